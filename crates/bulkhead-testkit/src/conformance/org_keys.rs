//! Organizations and org keys: a key opens its own organization only.

use std::collections::BTreeSet;
use std::time::Duration;

use bulkhead_core::{Error, OrgId};

use super::{Harness, new_org};

/// An org key opens its own organization's scope, and no other.
pub fn org_key_opens_its_own_organization(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, acme_key) = new_org(&h, "Acme");
    let (globex, globex_key) = new_org(&h, "Globex");
    assert_ne!(acme.org_id(), globex.org_id());
    let again = h.engine().authenticate_org(acme_key.expose()).unwrap();
    assert_eq!(again.org_id(), acme.org_id());
    let again = h.engine().authenticate_org(globex_key.expose()).unwrap();
    assert_eq!(again.org_id(), globex.org_id());
    let ids: BTreeSet<OrgId> = h
        .engine()
        .organizations()
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(ids, [acme.org_id(), globex.org_id()].into());
}

/// A wrong, revoked or expired org key is refused alike; the other keys keep working.
pub fn wrong_revoked_and_expired_org_keys_are_refused(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, first) = new_org(&h, "Acme");
    let mut wrong = first.expose().to_owned();
    let last = if wrong.ends_with('A') { "B" } else { "A" };
    wrong.replace_range(wrong.len() - 1.., last);
    let invalid = |key: &str| {
        assert!(matches!(
            h.engine().authenticate_org(key),
            Err(Error::InvalidOrgKey { .. })
        ));
    };
    invalid(&wrong);

    let (second, second_key) = org.create_key(None).unwrap();
    assert!(h.engine().authenticate_org(second_key.expose()).is_ok());
    org.revoke_key(second.id).unwrap();
    invalid(second_key.expose());

    let expires = h.now().plus(Duration::from_secs(60));
    let (_, third_key) = org.create_key(Some(expires)).unwrap();
    assert!(h.engine().authenticate_org(third_key.expose()).is_ok());
    h.clock.advance(Duration::from_secs(61));
    invalid(third_key.expose());

    assert!(h.engine().authenticate_org(first.expose()).is_ok());
}

/// An organization cannot revoke (or see) another organization's keys.
pub fn another_organizations_org_key_is_not_found(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, acme_key) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let acme_keys = acme.list_keys().unwrap();
    assert_eq!(acme_keys.len(), 1);
    let globex_keys = globex.list_keys().unwrap();
    assert!(globex_keys.iter().all(|k| k.id != acme_keys[0].id));
    h.assert_not_found(globex.revoke_key(acme_keys[0].id));
    assert!(h.engine().authenticate_org(acme_key.expose()).is_ok());
}
