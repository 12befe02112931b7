//! Worker keys (`bh_wkr_`): an organization's key whose only power is the job protocol. Made,
//! listed with their role, revoked and expired like any key, and refused by every way in but
//! `Engine::authenticate_worker`.

use std::time::Duration;

use bulkhead_core::{Error, KeyRole};

use super::{Harness, all_audit, new_org};

/// The refusal every way in but the job protocol gives a worker key: permission denied,
/// saying what the key is for.
#[track_caller]
fn assert_worker_key_refused<T: std::fmt::Debug>(result: bulkhead_core::Result<T>) {
    match result {
        Err(err @ Error::PermissionDenied { .. }) => {
            let text = err.to_string();
            assert!(
                text.contains("worker key") && text.contains("jobs"),
                "the refusal says what a worker key is for: {text}"
            );
        }
        other => panic!("expected a worker key to be refused, got {other:?}"),
    }
}

/// A worker key begins `bh_wkr_`, is listed with the role `worker` (the organization's first
/// key with `organization`), and its creation is audited as `worker_key.create`.
pub fn a_worker_key_is_listed_with_its_role_and_its_creation_audited(
    factory: &dyn Fn() -> Harness,
) {
    let h = factory();
    let (org, first) = new_org(&h, "Acme");
    // Keys list oldest first: the worker key is made a second later.
    h.tick();
    let (info, key) = org.create_worker_key(None).unwrap();
    assert!(key.expose().starts_with("bh_wkr_"), "{key:?}");
    assert_eq!(info.role, KeyRole::Worker);
    assert_eq!(info.prefix, key.prefix());
    let keys = org.list_keys().unwrap();
    let roles: Vec<(String, KeyRole)> = keys.iter().map(|k| (k.prefix.clone(), k.role)).collect();
    assert_eq!(
        roles,
        [
            (first.prefix().to_owned(), KeyRole::Organization),
            (key.prefix().to_owned(), KeyRole::Worker),
        ]
    );
    let created = all_audit(&org)
        .into_iter()
        .find(|e| e.draft.action == "worker_key.create")
        .expect("the creation is audited");
    assert_eq!(created.draft.target, format!("org_key:{}", info.id));
    assert_eq!(created.draft.actor, format!("org-key:{}", first.prefix()));
}

/// `authenticate_worker` takes a worker key, and an org key too, each for its own
/// organization only.
pub fn a_worker_key_and_an_org_key_each_make_a_worker_of_their_organization(
    factory: &dyn Fn() -> Harness,
) {
    let h = factory();
    let (acme, acme_key) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let (_, worker_key) = globex.create_worker_key(None).unwrap();
    let worker = h
        .engine()
        .authenticate_worker(worker_key.expose(), "w1")
        .unwrap();
    assert_eq!(worker.org_id(), Some(globex.org_id()));
    assert_eq!(worker.name(), "w1");
    let worker = h
        .engine()
        .authenticate_worker(acme_key.expose(), "w2")
        .unwrap();
    assert_eq!(worker.org_id(), Some(acme.org_id()));
}

/// `authenticate_org` refuses a worker key: it opens no organization scope, so it reaches no
/// workspace, template, key, setting or scoped-token issuance.
pub fn a_worker_key_opens_no_organization_scope(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (_, key) = org.create_worker_key(None).unwrap();
    assert_worker_key_refused(h.engine().authenticate_org(key.expose()));
}

/// `authenticate` and `verify_token` refuse a worker key as a scoped token, saying so.
pub fn a_worker_key_is_no_scoped_token(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (_, key) = org.create_worker_key(None).unwrap();
    assert_worker_key_refused(h.engine().authenticate(key.expose()));
    assert_worker_key_refused(h.engine().verify_token(key.expose()));
}

/// A revoked or expired worker key is refused by `authenticate_worker` like a wrong one, and a
/// worker made from it stops at its next call; the organization's other keys keep working.
pub fn a_revoked_or_expired_worker_key_is_refused_and_its_worker_stops(
    factory: &dyn Fn() -> Harness,
) {
    let h = factory();
    let (org, org_key) = new_org(&h, "Acme");
    let invalid = |key: &str| {
        assert!(
            matches!(
                h.engine().authenticate_worker(key, "w"),
                Err(Error::InvalidOrgKey { .. })
            ),
            "refused"
        );
    };
    let (info, key) = org.create_worker_key(None).unwrap();
    let mut wrong = key.expose().to_owned();
    let last = if wrong.ends_with('A') { "B" } else { "A" };
    wrong.replace_range(wrong.len() - 1.., last);
    invalid(&wrong);

    let worker = h.engine().authenticate_worker(key.expose(), "w").unwrap();
    // Before the revocation the credential holds (a store without a queue says so, not the key).
    assert!(!matches!(worker.claim(), Err(Error::InvalidOrgKey { .. })));
    org.revoke_key(info.id).unwrap();
    invalid(key.expose());
    assert!(matches!(worker.claim(), Err(Error::InvalidOrgKey { .. })));
    let listed = org.list_keys().unwrap();
    let revoked = listed.iter().find(|k| k.id == info.id).unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(revoked.role, KeyRole::Worker);

    let expires = h.now().plus(Duration::from_secs(60));
    let (_, expiring) = org.create_worker_key(Some(expires)).unwrap();
    assert!(
        h.engine()
            .authenticate_worker(expiring.expose(), "w")
            .is_ok()
    );
    h.clock.advance(Duration::from_secs(61));
    invalid(expiring.expose());
    assert!(h.engine().authenticate_org(org_key.expose()).is_ok());
}

/// A worker key's expiry must be in the future, like an org key's.
pub fn a_worker_key_expiring_in_the_past_is_invalid_input(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let before = org.list_keys().unwrap().len();
    assert!(matches!(
        org.create_worker_key(Some(h.now())),
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(org.list_keys().unwrap().len(), before, "nothing stored");
}

/// Another engine on the same store (another process) knows a worker key for what it is: the
/// role is stored, not remembered by the engine that made the key. Revoked through the first
/// engine, the key is refused by the second.
pub fn a_worker_keys_role_is_stored_for_every_process(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (info, key) = org.create_worker_key(None).unwrap();
    let other = h.another_engine();
    assert_worker_key_refused(other.authenticate_org(key.expose()));
    assert!(other.authenticate_worker(key.expose(), "w").is_ok());
    org.revoke_key(info.id).unwrap();
    assert!(matches!(
        other.authenticate_worker(key.expose(), "w"),
        Err(Error::InvalidOrgKey { .. })
    ));
}
