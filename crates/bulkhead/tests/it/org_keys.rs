//! Org access keys through the public API: shape, several keys, listing without secrets,
//! revocation, expiry on the injected clock, one error for every refusal, last use.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulkhead::{Error, ObjectKind, OrgKeySecret};
use common::{Db, START, assert_invalid};

/// The scope's organization id, or the error.
fn org_of(db: &Db, key: &OrgKeySecret) -> bulkhead::Result<bulkhead::OrgId> {
    db.engine.authenticate_org(key.expose()).map(|s| s.org_id())
}

#[track_caller]
fn assert_invalid_key<T: std::fmt::Debug>(result: bulkhead::Result<T>) -> Error {
    match result {
        Err(err @ Error::InvalidOrgKey { hint: "" }) => err,
        other => panic!("expected an invalid org key without hint, got {other:?}"),
    }
}

#[test]
fn new_organization_gets_a_bh_org_key_of_fifty_characters() {
    let db = Db::new();
    let (org, key) = db.engine.create_organization("Acme").unwrap();
    let text = key.expose();
    assert_eq!(text.len(), 50);
    let body = text.strip_prefix("bh_org_").unwrap();
    assert_eq!(
        URL_SAFE_NO_PAD.decode(body).unwrap().len(),
        32,
        "256 random bits"
    );
    assert_eq!(key.prefix(), &text[..15]);
    assert_eq!(org_of(&db, &key).unwrap(), org.id);
}

#[test]
fn every_key_is_different() {
    let db = Db::new();
    let (_, one) = db.engine.create_organization("One").unwrap();
    let (_, two) = db.engine.create_organization("Two").unwrap();
    let org = db.engine.authenticate_org(one.expose()).unwrap();
    let (_, three) = org.create_key(None).unwrap();
    assert_ne!(one, two);
    assert_ne!(one, three);
    assert_ne!(one.prefix(), three.prefix());
}

#[test]
fn second_key_works_alongside_the_first() {
    let db = Db::new();
    let (org, first) = db.engine.create_organization("Acme").unwrap();
    let scope = db.engine.authenticate_org(first.expose()).unwrap();
    let (info, second) = scope.create_key(None).unwrap();
    assert_eq!(info.prefix, second.prefix());
    assert_eq!(info.expires_at, None);
    assert_eq!(info.revoked_at, None);
    assert_eq!(org_of(&db, &second).unwrap(), org.id);
    assert_eq!(org_of(&db, &first).unwrap(), org.id);
}

#[test]
fn list_keys_shows_prefixes_and_never_the_keys() {
    let db = Db::new();
    let (_, first) = db.engine.create_organization("Acme").unwrap();
    let scope = db.engine.authenticate_org(first.expose()).unwrap();
    db.tick();
    let (_, second) = scope.create_key(None).unwrap();

    let listed = scope.list_keys().unwrap();
    let prefixes: Vec<&str> = listed.iter().map(|k| k.prefix.as_str()).collect();
    assert_eq!(
        prefixes,
        [&first.expose()[..15], &second.expose()[..15]],
        "oldest first"
    );
    assert_eq!(listed[0].created_at, START);

    let shown = format!(
        "{listed:?} {} {first:?} {second:?}",
        serde_json::to_string(&listed).unwrap()
    );
    for key in [&first, &second] {
        let body = key.expose().strip_prefix("bh_org_").unwrap();
        assert!(!shown.contains(key.expose()), "a key is shown: {shown}");
        assert!(!shown.contains(body), "a key's body is shown: {shown}");
        assert!(
            !shown.contains(&key.expose()[..16]),
            "more than the prefix is shown"
        );
    }
}

#[test]
fn another_orgs_keys_are_neither_listed_nor_revocable() {
    let db = Db::new();
    let (_, mine) = db.engine.create_organization("Mine").unwrap();
    let (_, theirs) = db.engine.create_organization("Theirs").unwrap();
    let me = db.engine.authenticate_org(mine.expose()).unwrap();
    let them = db.engine.authenticate_org(theirs.expose()).unwrap();
    let their_key = them.list_keys().unwrap()[0].id;

    let listed = me.list_keys().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].prefix, mine.prefix());
    match me.revoke_key(their_key) {
        Err(Error::NotFound { kind, .. }) => assert_eq!(kind, ObjectKind::OrgKey),
        other => panic!("expected not found, got {other:?}"),
    }
    assert_eq!(org_of(&db, &theirs).unwrap(), them.org_id());
}

#[test]
fn revoked_key_is_refused_and_the_other_still_works() {
    let db = Db::new();
    let (org, first) = db.engine.create_organization("Acme").unwrap();
    let scope = db.engine.authenticate_org(first.expose()).unwrap();
    let (info, second) = scope.create_key(None).unwrap();
    db.tick();
    let revoked = scope.revoke_key(info.id).unwrap();
    assert_eq!(revoked.revoked_at, Some(db.now()));
    assert_invalid_key(org_of(&db, &second));
    assert_eq!(org_of(&db, &first).unwrap(), org.id);
    // Listed as revoked, and revoking again keeps the first revocation time.
    db.tick();
    let again = scope.revoke_key(info.id).unwrap();
    assert_eq!(again.revoked_at, revoked.revoked_at);
    let listed = scope.list_keys().unwrap();
    let row = listed.iter().find(|k| k.id == info.id).unwrap();
    assert_eq!(row.revoked_at, revoked.revoked_at);
}

#[test]
fn organization_can_revoke_the_key_it_is_using() {
    let db = Db::new();
    let (_, key) = db.engine.create_organization("Acme").unwrap();
    let scope = db.engine.authenticate_org(key.expose()).unwrap();
    let id = scope.list_keys().unwrap()[0].id;
    scope.revoke_key(id).unwrap();
    assert_invalid_key(org_of(&db, &key));
}

#[test]
fn key_expires_by_the_injected_clock() {
    let db = Db::new();
    let (org, first) = db.engine.create_organization("Acme").unwrap();
    let scope = db.engine.authenticate_org(first.expose()).unwrap();
    let expires_at = db.now().plus(Duration::from_secs(3600));
    let (info, key) = scope.create_key(Some(expires_at)).unwrap();
    assert_eq!(info.expires_at, Some(expires_at));

    db.clock.set(bulkhead::Timestamp::from_unix_millis(
        expires_at.unix_millis() - 1,
    ));
    assert_eq!(org_of(&db, &key).unwrap(), org.id);
    db.clock.set(expires_at);
    assert_invalid_key(org_of(&db, &key));
    assert_eq!(
        org_of(&db, &first).unwrap(),
        org.id,
        "keys without expiry live on"
    );
}

#[test]
fn key_expiry_must_be_in_the_future() {
    let db = Db::new();
    let scope = db.org("Acme");
    assert_invalid(scope.create_key(Some(db.now())), "expires_at");
    let past = bulkhead::Timestamp::from_unix_millis(START.unix_millis() - 1_000);
    assert_invalid(scope.create_key(Some(past)), "expires_at");
    assert_eq!(scope.list_keys().unwrap().len(), 1, "nothing was made");
}

#[test]
fn wrong_revoked_and_expired_keys_get_the_same_error() {
    let db = Db::new();
    let (_, key) = db.engine.create_organization("Acme").unwrap();
    let scope = db.engine.authenticate_org(key.expose()).unwrap();
    let (revoked_info, revoked) = scope.create_key(None).unwrap();
    scope.revoke_key(revoked_info.id).unwrap();
    let (_, expiring) = scope
        .create_key(Some(db.now().plus(Duration::from_secs(60))))
        .unwrap();
    db.clock.advance(Duration::from_secs(61));

    // A well-formed key nobody issued, one differing from a real key in its last character,
    // the revoked one, the expired one, and text that is not a key at all.
    let mut near_miss = key.expose().to_owned();
    let last = near_miss.pop().unwrap();
    near_miss.push(if last == 'A' { 'B' } else { 'A' });
    let candidates = [
        format!("bh_org_{}", URL_SAFE_NO_PAD.encode([7u8; 32])),
        near_miss,
        revoked.expose().to_owned(),
        expiring.expose().to_owned(),
        "hunter2".to_owned(),
        String::new(),
    ];
    let messages: Vec<String> = candidates
        .iter()
        .map(|k| assert_invalid_key(db.engine.authenticate_org(k)).to_string())
        .collect();
    assert!(messages.iter().all(|m| *m == messages[0]), "{messages:?}");
    assert_eq!(messages[0], "invalid or expired org key");
}

#[test]
fn last_use_is_recorded_at_most_once_a_minute() {
    let db = Db::new();
    let (_, first) = db.engine.create_organization("Acme").unwrap();
    let scope = db.engine.authenticate_org(first.expose()).unwrap();
    let (info, key) = scope.create_key(None).unwrap();
    assert_eq!(info.last_used_at, None);
    let last_used = |scope: &bulkhead::OrgScope| {
        scope
            .list_keys()
            .unwrap()
            .into_iter()
            .find(|k| k.id == info.id)
            .unwrap()
            .last_used_at
    };

    db.tick();
    let used_at = db.now();
    db.engine.authenticate_org(key.expose()).unwrap();
    assert_eq!(last_used(&scope), Some(used_at));

    db.clock.advance(Duration::from_secs(30));
    db.engine.authenticate_org(key.expose()).unwrap();
    assert_eq!(
        last_used(&scope),
        Some(used_at),
        "not rewritten within the minute"
    );

    db.clock.advance(Duration::from_secs(30));
    db.engine.authenticate_org(key.expose()).unwrap();
    assert_eq!(last_used(&scope), Some(db.now()));
}

#[test]
fn failed_attempt_does_not_count_as_use() {
    let db = Db::new();
    let (_, key) = db.engine.create_organization("Acme").unwrap();
    let scope = db.engine.authenticate_org(key.expose()).unwrap();
    let (info, revoked) = scope.create_key(None).unwrap();
    scope.revoke_key(info.id).unwrap();
    assert_invalid_key(db.engine.authenticate_org(revoked.expose()));
    let listed = scope.list_keys().unwrap();
    assert_eq!(
        listed
            .iter()
            .find(|k| k.id == info.id)
            .unwrap()
            .last_used_at,
        None
    );
}

#[test]
fn key_debug_output_shows_only_the_prefix() {
    let db = Db::new();
    let (_, key) = db.engine.create_organization("Acme").unwrap();
    let debug = format!("{key:?}");
    assert!(debug.contains(key.prefix()), "{debug}");
    assert!(!debug.contains(&key.expose()[15..]), "{debug}");
}

#[test]
fn keys_work_from_another_engine_and_after_reopening() {
    let db = Db::new();
    let (org, key) = db.engine.create_organization("Acme").unwrap();
    assert_eq!(
        db.open_another_engine()
            .authenticate_org(key.expose())
            .unwrap()
            .org_id(),
        org.id
    );
    let db = db.reopen();
    assert_eq!(org_of(&db, &key).unwrap(), org.id);
}
