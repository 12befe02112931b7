//! Conformance tests of the security review's fixes that every adapter must pass: refusals
//! coalesced in the audit chain (M1), emergency retirement of a signing key (M2), scopes that
//! follow their credential (L1), audited reveals and token issuance (L3).

use std::time::Duration;

use bulkhead_core::{AuditFilter, Error, IssuedToken, Page, ScopedTokenRequest, TokenRejection};

use super::{Harness, LEEWAY, all_audit, assert_token_rejected, ext, kid_of, new_org, token_scope};

/// How many times the M1 tests replay a refused token.
const REPLAYS: u64 = 10_000;

/// The events of `org`'s chain with `action` whose outcome starts with `denied: {reason}`.
fn denials(org: &bulkhead_core::OrgScope, action: &str, reason: &str) -> Vec<String> {
    let prefix = format!("denied: {reason}");
    org.audit_events(
        &AuditFilter {
            action: Some(action.to_owned()),
            ..AuditFilter::default()
        },
        &Page::first(100),
    )
    .unwrap()
    .items
    .into_iter()
    .map(|e| e.draft.outcome)
    .filter(|o| o.starts_with(&prefix))
    .collect()
}

/// 10,000 replays of a revoked token, and of an expired one, add one event each a minute;
/// the next minute's event says how many were not logged, and the meter counts them.
pub fn replayed_refused_tokens_are_audited_once_a_minute(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (revoked, _) = token_scope(&h, &org, "cust-1");
    org.revoke_token(revoked.token.expose()).unwrap();
    let (expired, _) = token_scope(&h, &org, "cust-2");
    let before = all_audit(&org).len();

    for _ in 0..REPLAYS {
        assert_token_rejected(
            h.engine().authenticate(revoked.token.expose()),
            TokenRejection::Revoked,
        );
    }
    assert_eq!(denials(&org, "token.use", "revoked"), ["denied: revoked"]);
    assert_eq!(all_audit(&org).len(), before + 1);

    h.clock.advance(Duration::from_secs(60));
    assert_token_rejected(
        h.engine().authenticate(revoked.token.expose()),
        TokenRejection::Revoked,
    );
    assert_eq!(
        denials(&org, "token.use", "revoked"),
        [
            "denied: revoked".to_owned(),
            format!(
                "denied: revoked; {} more not logged since the last such event",
                REPLAYS - 1
            )
        ]
    );

    h.clock
        .set(expired.expires_at.plus(LEEWAY).plus(Duration::from_secs(1)));
    for _ in 0..REPLAYS {
        assert!(matches!(
            h.engine().authenticate(expired.token.expose()),
            Err(Error::TokenExpired { .. })
        ));
    }
    assert_eq!(denials(&org, "token.use", "expired").len(), 1);
    assert_eq!(all_audit(&org).len(), before + 3);
    assert_eq!(org.stats().denials_not_logged, 2 * (REPLAYS - 1));
    assert_eq!(org.stats().invalid_tokens, 2 * REPLAYS + 1);
    assert!(org.verify_audit().unwrap().is_intact());
}

/// Coalescing is per kind: another token, another reason, another organization each get
/// their own event.
pub fn refusals_of_different_kinds_are_each_audited(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let mut tokens = Vec::new();
    for (org, customer) in [(&acme, "a-1"), (&acme, "a-2"), (&globex, "g-1")] {
        let (issued, _) = token_scope(&h, org, customer);
        org.revoke_token(issued.token.expose()).unwrap();
        tokens.push(issued);
    }
    for _ in 0..3 {
        for issued in &tokens {
            assert_token_rejected(
                h.engine().authenticate(issued.token.expose()),
                TokenRejection::Revoked,
            );
        }
    }
    assert_eq!(denials(&acme, "token.use", "revoked").len(), 2);
    assert_eq!(denials(&globex, "token.use", "revoked").len(), 1);
    // The same token refused for another reason is another kind.
    let (issued, _) = token_scope(&h, &acme, "a-3");
    let workspace = issued.workspace_id;
    acme.update_workspace(
        workspace,
        &bulkhead_core::WorkspaceUpdate {
            status: Some(bulkhead_core::WorkspaceStatus::Inactive),
            ..bulkhead_core::WorkspaceUpdate::default()
        },
    )
    .unwrap();
    assert!(matches!(
        h.engine().authenticate(issued.token.expose()),
        Err(Error::WorkspaceInactive { .. })
    ));
    acme.revoke_token(issued.token.expose()).unwrap();
    assert_eq!(
        denials(&acme, "token.use", "workspace inactive").len(),
        1,
        "{:?}",
        all_audit(&acme)
    );
}

/// Retiring a leaked signing key stops its tokens at once: `authenticate` in every process
/// (another engine on the same store included), `verify_token` here at once and in the other
/// process once its one-minute key cache runs out. Retiring the signer makes a new one, whose
/// tokens work; a minter made before mints with the new key.
pub fn retiring_a_signing_key_refuses_its_tokens_in_every_process(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let other = h.another_engine();
    let (org, _) = new_org(&h, "Acme");
    let (leaked, _) = token_scope(&h, &org, "cust-1");
    let minter = org
        .token_minter(&ScopedTokenRequest::new(ext("cust-2")))
        .unwrap();
    let kid = kid_of(leaked.token.expose());
    // The other process has used the key: it is in its cache.
    other.verify_token(leaked.token.expose()).unwrap();
    h.answer(other.authenticate(leaked.token.expose())).unwrap();

    let signer = org
        .retire_signing_key(&kid)
        .unwrap()
        .expect("it was the signer");
    assert_ne!(signer.kid, kid);
    for engine in [h.engine(), &other] {
        assert_token_rejected(
            engine.authenticate(leaked.token.expose()),
            TokenRejection::UnknownKey,
        );
    }
    assert_token_rejected(
        h.engine().verify_token(leaked.token.expose()),
        TokenRejection::UnknownKey,
    );
    // Offline in the other process: until its cache of the key runs out, a minute at most.
    assert!(other.verify_token(leaked.token.expose()).is_ok());
    h.clock.advance(Duration::from_secs(60));
    assert_token_rejected(
        other.verify_token(leaked.token.expose()),
        TokenRejection::UnknownKey,
    );

    // New tokens, and a minter made before, sign with the new key and work everywhere.
    let (fresh, _) = token_scope(&h, &org, "cust-1");
    assert_eq!(kid_of(fresh.token.expose()), signer.kid);
    let minted = minter.mint().unwrap();
    assert_eq!(kid_of(minted.token.expose()), signer.kid);
    for engine in [h.engine(), &other] {
        h.answer(engine.authenticate(fresh.token.expose())).unwrap();
        h.answer(engine.authenticate(minted.token.expose()))
            .unwrap();
    }
    // Gone from the keys; retiring it again is not found, as is a kid of another shape.
    assert!(org.signing_keys().unwrap().iter().all(|k| k.kid != kid));
    for unknown in [kid.as_str(), "", "\u{0}", &"k".repeat(65)] {
        assert!(org.retire_signing_key(unknown).unwrap_err().is_not_found());
    }
    assert_eq!(
        all_audit(&org)
            .iter()
            .filter(|e| e.draft.action == "signing_key.retire")
            .count(),
        1
    );
}

/// A key rotated out (still verifying until its last token expires) can be retired too: it
/// stops at once, and the signer stays.
pub fn retiring_a_rotated_out_key_keeps_the_signer(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (old, _) = token_scope(&h, &org, "cust-1");
    let signer = org.rotate_signing_key().unwrap();
    let (new, _) = token_scope(&h, &org, "cust-1");
    h.answer(h.engine().authenticate(old.token.expose()))
        .unwrap();
    assert_eq!(
        org.retire_signing_key(&kid_of(old.token.expose())).unwrap(),
        None
    );
    assert_token_rejected(
        h.engine().authenticate(old.token.expose()),
        TokenRejection::UnknownKey,
    );
    h.answer(h.engine().authenticate(new.token.expose()))
        .unwrap();
    assert_eq!(org.signing_keys().unwrap()[0].kid, signer.kid);
}

/// A token that lives longer than its organization allows is refused, by `authenticate` and
/// `verify_token` alike: the engine never mints one, so it was forged with a leaked key, or
/// minted before the organization shortened the lifetime.
pub fn a_token_living_longer_than_its_organization_allows_is_refused(
    factory: &dyn Fn() -> Harness,
) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let long = org
        .scoped_token(&ScopedTokenRequest {
            ttl: Some(Duration::from_secs(3600)),
            ..ScopedTokenRequest::new(ext("cust-1"))
        })
        .unwrap();
    h.answer(h.engine().authenticate(long.token.expose()))
        .unwrap();
    let settings = org.reload().unwrap().settings;
    org.update_settings(&bulkhead_core::OrgSettings {
        default_token_ttl: Duration::from_secs(600),
        max_token_ttl: Duration::from_secs(1800),
        ..settings
    })
    .unwrap();
    assert_token_rejected(
        h.engine().authenticate(long.token.expose()),
        TokenRejection::Lifetime,
    );
    assert_token_rejected(
        h.engine().verify_token(long.token.expose()),
        TokenRejection::Lifetime,
    );
    let (short, _) = token_scope(&h, &org, "cust-1");
    h.answer(h.engine().authenticate(short.token.expose()))
        .unwrap();
}

/// Asserts `result` is the refusal of a dead org key ("invalid or expired org key").
#[track_caller]
fn assert_org_key_refused<T: std::fmt::Debug>(result: bulkhead_core::Result<T>) {
    match result {
        Err(Error::InvalidOrgKey { .. }) => {}
        other => panic!("expected the org key refused, got {other:?}"),
    }
}

/// A scope kept from a token stops when the token expires, when it is revoked, and when every
/// token of its workspace is revoked, through this engine: at once, without a read.
pub fn a_scope_from_a_token_stops_with_its_token(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let page = Page::first(10);

    let (expiring, scope) = token_scope(&h, &org, "cust-1");
    h.answer(scope.list_sources(&page)).unwrap();
    h.clock.set(expiring.expires_at.plus(LEEWAY));
    h.answer(scope.list_sources(&page)).unwrap();
    h.clock.advance(Duration::from_millis(1));
    assert!(matches!(
        scope.list_sources(&page),
        Err(Error::TokenExpired { .. })
    ));

    let (revoked, scope) = token_scope(&h, &org, "cust-1");
    let (kept, kept_scope) = token_scope(&h, &org, "cust-1");
    org.revoke_token(revoked.token.expose()).unwrap();
    assert_token_rejected(scope.list_sources(&page), TokenRejection::Revoked);
    assert_token_rejected(scope.workspace(), TokenRejection::Revoked);
    h.answer(kept_scope.list_sources(&page)).unwrap();

    h.tick();
    org.revoke_all_tokens(kept.workspace_id).unwrap();
    assert_token_rejected(kept_scope.list_sources(&page), TokenRejection::Revoked);
    // A scope of another workspace, and a token minted afterwards, work.
    h.tick();
    let (_, other) = token_scope(&h, &org, "cust-2");
    h.answer(other.list_sources(&page)).unwrap();
    let (_, fresh) = token_scope(&h, &org, "cust-1");
    h.answer(fresh.list_sources(&page)).unwrap();
}

/// An organization's scope, the workspace scopes it made and its token minters stop when its
/// org key is revoked through this engine, or expires.
pub fn an_org_scope_stops_with_its_org_key(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (second, second_key) = org.create_key(None).unwrap();
    let held = h.engine().authenticate_org(second_key.expose()).unwrap();
    let workspace = held
        .get_or_create_workspace(&ext("cust-1"))
        .unwrap()
        .workspace;
    let inside = held.workspace(workspace.id).unwrap();
    let minter = held
        .token_minter(&ScopedTokenRequest::new(ext("cust-1")))
        .unwrap();
    minter.mint().unwrap();

    org.revoke_key(second.id).unwrap();
    assert_org_key_refused(held.list_tags());
    assert_org_key_refused(held.get_workspace(workspace.id));
    assert_org_key_refused(held.scoped_token(&ScopedTokenRequest::new(ext("cust-1"))));
    assert_org_key_refused(inside.list_sources(&Page::first(10)));
    assert_org_key_refused(minter.mint());
    // The scope of the key that revoked it goes on.
    org.list_tags().unwrap();

    let expires_at = h.now().plus(Duration::from_secs(3600));
    let (_, expiring_key) = org.create_key(Some(expires_at)).unwrap();
    let expiring = h.engine().authenticate_org(expiring_key.expose()).unwrap();
    expiring.list_tags().unwrap();
    h.clock.set(expires_at);
    assert_org_key_refused(expiring.list_tags());
    org.list_tags().unwrap();
}

/// Across processes: a revocation made by another engine on the same database reaches a
/// scope of this one when the scope next reads its credential, within a minute, and never
/// later than the token's own expiry.
pub fn a_revocation_in_another_process_reaches_a_scope_within_a_minute(
    factory: &dyn Fn() -> Harness,
) {
    let h = factory();
    let other = h.another_engine();
    let (org, key) = new_org(&h, "Acme");
    let (issued, scope) = token_scope(&h, &org, "cust-1");
    let (_, second_key) = org.create_key(None).unwrap();
    let held = h.engine().authenticate_org(second_key.expose()).unwrap();
    let page = Page::first(10);

    let there = other.authenticate_org(key.expose()).unwrap();
    there.revoke_token(issued.token.expose()).unwrap();
    let second = there
        .list_keys()
        .unwrap()
        .into_iter()
        .find(|k| k.prefix == second_key.prefix())
        .unwrap();
    there.revoke_key(second.id).unwrap();

    // Within the minute, this process has not read them yet (the documented bound).
    h.clock.advance(Duration::from_secs(59));
    h.answer(scope.list_sources(&page)).unwrap();
    held.list_tags().unwrap();
    // Then it reads them, and both scopes stop.
    h.clock.advance(Duration::from_secs(1));
    assert_token_rejected(scope.list_sources(&page), TokenRejection::Revoked);
    assert_org_key_refused(held.list_tags());
}

/// The actions of `org`'s chain, in order, from the `skip`-th event on.
fn actions_after(org: &bulkhead_core::OrgScope, skip: usize) -> Vec<(String, String)> {
    all_audit(org)
        .into_iter()
        .skip(skip)
        .map(|e| (e.draft.action, e.draft.target))
        .collect()
}

/// Every reveal of a secret in clear (a source's or destination's configuration, an HS256
/// signing secret) and every token issued or minter made leaves an event naming what, never
/// the secret or the token; tokens a minter mints are counted, not audited one by one.
pub fn reveals_and_token_issuance_are_audited(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, key) = new_org(&h, "Acme");
    let catalog = super::install_catalog(&h, &org);
    let issued = org
        .scoped_token(
            &ScopedTokenRequest::new(ext("cust-1"))
                .source_tags(super::any_of(&["production"]))
                .connection_tags(super::any_of(&["production"])),
        )
        .unwrap();
    let ws = h.engine().authenticate(issued.token.expose()).unwrap();
    let made = ws
        .create_source_from_template(super::from_template(&catalog.stripe, "s"))
        .unwrap();
    let destination = made.destinations[0].id;
    let kid = kid_of(issued.token.expose());
    let start = all_audit(&org).len();

    let source_config = org
        .reveal_source_config(issued.workspace_id, made.source.id)
        .unwrap();
    org.reveal_destination_config(issued.workspace_id, destination)
        .unwrap();
    let secret = org.reveal_hs256_secret(&kid).unwrap();
    let second = org
        .scoped_token(&ScopedTokenRequest::new(ext("cust-1")))
        .unwrap();
    let minter = org
        .token_minter(&ScopedTokenRequest::new(ext("cust-1")))
        .unwrap();
    let minted: Vec<_> = (0..5).map(|_| minter.mint().unwrap()).collect();
    // Every token of a minter starts with the prefix its event names.
    let prefix = &minted[0].token_id[..16];
    assert!(minted.iter().all(|t| t.token_id.starts_with(prefix)));
    assert_eq!(
        actions_after(&org, start),
        [
            ("source.reveal", format!("source:{}", made.source.id)),
            ("destination.reveal", format!("destination:{destination}")),
            ("signing_key.reveal", format!("signing_key:{kid}")),
            ("token.issue", format!("token:{}", second.token_id)),
            ("token_minter.create", format!("token_minter:{prefix}")),
        ]
        .map(|(a, t)| (a.to_owned(), t))
    );
    let events = all_audit(&org);
    let issue = events
        .iter()
        .find(|e| e.draft.action == "token.issue" && e.draft.target.ends_with(&second.token_id))
        .unwrap();
    assert_eq!(issue.draft.actor, format!("org-key:{}", key.prefix()));
    assert_eq!(issue.draft.workspace_id, Some(issued.workspace_id));
    let text = format!("{events:?}");
    assert!(!text.contains(second.token.expose()));
    let api_key = source_config.as_map()["api_key"].as_str().unwrap();
    assert!(!text.contains(api_key), "a revealed secret is in the chain");
    assert!(!text.contains(&format!("{:?}", secret.expose())));
    assert!(org.verify_audit().unwrap().is_intact());
}

/// Scoped tokens issued at once from many threads, for two organizations, for customers
/// that exist and for new ones: each issuance is its own event, naming its token and
/// workspace, and both organizations' chains verify (a store may share one transaction
/// between concurrent issuances, SQLite's group commit, and must keep each one whole).
pub fn concurrent_token_issuances_are_each_audited_and_the_chains_verify(
    factory: &dyn Fn() -> Harness,
) {
    const THREADS: usize = 6;
    const EACH: usize = 15;
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    for org in [&acme, &globex] {
        org.scoped_token(&ScopedTokenRequest::new(ext("existing")))
            .unwrap();
    }
    let issued: Vec<(bool, IssuedToken)> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let org = if t % 2 == 0 {
                    acme.clone()
                } else {
                    globex.clone()
                };
                s.spawn(move || {
                    (0..EACH)
                        .map(|n| {
                            let customer = if n % 3 == 0 {
                                format!("new-{t}-{n}")
                            } else {
                                "existing".to_owned()
                            };
                            let request = ScopedTokenRequest::new(ext(&customer));
                            (t % 2 == 0, org.scoped_token(&request).unwrap())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    assert_eq!(issued.len(), THREADS * EACH);
    for (org, is_acme) in [(&acme, true), (&globex, false)] {
        let events = all_audit(org);
        let mine: Vec<_> = issued.iter().filter(|(a, _)| *a == is_acme).collect();
        for (_, token) in &mine {
            let target = format!("token:{}", token.token_id);
            let found: Vec<_> = events
                .iter()
                .filter(|e| e.draft.action == "token.issue" && e.draft.target == target)
                .collect();
            assert_eq!(found.len(), 1, "one event for {target}");
            assert_eq!(found[0].draft.workspace_id, Some(token.workspace_id));
            h.engine().authenticate(token.token.expose()).unwrap();
        }
        assert!(org.verify_audit().unwrap().is_intact());
    }
}

/// A breach met while a token's scope reads the organization's templates is the token
/// holder's, in the chain and the error, not the operator's (leaky stores only; over a
/// correct store the same reads answer).
pub fn a_breach_in_a_customers_template_read_names_the_token(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    super::install_catalog(&h, &acme);
    super::install_catalog(&h, &globex);
    let (issued, ws) = token_scope(&h, &acme, "cust-1");
    let leaking = h.leak_org_rows(true);
    let templates = ws.source_templates();
    h.leak_org_rows(false);
    if !leaking {
        assert_eq!(templates.unwrap().len(), 2);
        return;
    }
    match templates {
        Err(Error::IsolationBreach { .. }) => h.note_breach(),
        other => panic!("expected an isolation breach, got {other:?}"),
    }
    let breaches: Vec<_> = all_audit(&acme)
        .into_iter()
        .filter(|e| e.draft.action == "isolation.breach")
        .collect();
    assert_eq!(breaches.len(), 1, "{breaches:?}");
    assert_eq!(
        breaches[0].draft.actor,
        format!("token:{}", issued.token_id)
    );
}
