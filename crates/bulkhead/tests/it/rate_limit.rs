//! The per-organization rate limit on creating workspaces, and the organization's counters.
//!
//! The bucket is driven by the engine's injected clock: every test moves a manual clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::time::Duration;

use bulkhead::{
    Error, Operation, OperationSet, OrgScope, OrgSettings, OrgStats, Page, ScopedTokenRequest,
    TokenRejection,
};
use common::{Db, assert_invalid, assert_token_rejected, ext, issue};

/// An organization that may create `burst` workspaces at once and `rate` more per second.
fn limited_org(db: &Db, name: &str, burst: u32, rate: u32) -> OrgScope {
    db.org_with(
        name,
        OrgSettings {
            workspace_creation_burst: burst,
            workspace_creation_rate: rate,
            ..OrgSettings::default()
        },
    )
}

fn token_for(org: &OrgScope, external_id: &str) -> bulkhead::Result<bulkhead::IssuedToken> {
    org.scoped_token(&ScopedTokenRequest::new(ext(external_id)))
}

/// Asserts `result` is [`Error::RateLimited`] with `retry_after`, and returns its message.
fn assert_rate_limited<T: std::fmt::Debug>(
    result: bulkhead::Result<T>,
    retry_after: Duration,
) -> String {
    match result {
        Err(e) => {
            assert!(
                matches!(e, Error::RateLimited { retry_after: got } if got == retry_after),
                "expected rate limited with retry after {retry_after:?}, got {e:?}"
            );
            e.to_string()
        }
        Ok(other) => panic!("expected rate limited, got {other:?}"),
    }
}

#[test]
fn the_burst_is_admitted_and_the_next_new_workspace_is_refused_with_retry_after() {
    let db = Db::new();
    let org = limited_org(&db, "Acme", 3, 2);
    for i in 0..3 {
        let issued = token_for(&org, &format!("cust-{i}")).unwrap();
        assert!(issued.workspace_created);
    }
    // One creation takes 500 ms at 2 per second.
    let message = assert_rate_limited(token_for(&org, "cust-3"), Duration::from_millis(500));
    assert_eq!(message, "rate limited, retry after 1 s");
    // Nothing was created for the refused external id.
    assert!(
        org.workspace_by_external_id(&ext("cust-3"))
            .unwrap_err()
            .is_not_found()
    );
    assert_rate_limited(
        org.get_or_create_workspace(&ext("cust-3")),
        Duration::from_millis(500),
    );
    assert_eq!(org.workspace_stats().unwrap().total, 3);
}

#[test]
fn existing_workspaces_keep_getting_tokens_while_new_ones_are_refused() {
    let db = Db::new();
    let org = limited_org(&db, "Acme", 2, 1);
    let first = token_for(&org, "cust-a").unwrap();
    token_for(&org, "cust-b").unwrap();
    assert_rate_limited(token_for(&org, "cust-c"), Duration::from_secs(1));

    for _ in 0..10 {
        let again = token_for(&org, "cust-a").unwrap();
        assert!(!again.workspace_created);
        assert_eq!(again.workspace_id, first.workspace_id);
        db.engine.authenticate(again.token.expose()).unwrap();
    }
    let got = org.get_or_create_workspace(&ext("cust-b")).unwrap();
    assert!(!got.created);
    // Serving existing workspaces took nothing from the bucket: still one second to wait.
    assert_rate_limited(token_for(&org, "cust-c"), Duration::from_secs(1));
}

#[test]
fn the_bucket_refills_with_the_injected_clock_up_to_the_burst() {
    let db = Db::new();
    let org = limited_org(&db, "Acme", 3, 2);
    for i in 0..3 {
        token_for(&org, &format!("a-{i}")).unwrap();
    }
    db.clock.advance(Duration::from_millis(499));
    assert_rate_limited(token_for(&org, "b-0"), Duration::from_millis(1));
    db.clock.advance(Duration::from_millis(1));
    assert!(token_for(&org, "b-0").unwrap().workspace_created);
    assert_rate_limited(token_for(&org, "b-1"), Duration::from_millis(500));
    db.clock.advance(Duration::from_millis(1200));
    // 1.2 s at 2 per second: two creations, and 200 ms towards a third.
    token_for(&org, "b-1").unwrap();
    token_for(&org, "b-2").unwrap();
    let message = assert_rate_limited(token_for(&org, "b-3"), Duration::from_millis(300));
    assert_eq!(message, "rate limited, retry after 1 s");

    // A long pause refills to the burst, not beyond.
    db.clock.advance(Duration::from_secs(3600));
    for i in 0..3 {
        token_for(&org, &format!("c-{i}")).unwrap();
    }
    assert_rate_limited(token_for(&org, "c-3"), Duration::from_millis(500));
}

#[test]
fn each_organization_has_its_own_bucket() {
    let db = Db::new();
    let one = limited_org(&db, "One", 1, 1);
    let two = limited_org(&db, "Two", 1, 1);
    token_for(&one, "cust").unwrap();
    assert_rate_limited(token_for(&one, "cust-2"), Duration::from_secs(1));
    assert!(token_for(&two, "cust").unwrap().workspace_created);
}

#[test]
fn default_limit_admits_a_burst_of_100_then_10_per_second() {
    let db = Db::new();
    let org = db.org("Acme");
    let settings = org.reload().unwrap().settings;
    assert_eq!(
        (
            settings.workspace_creation_burst,
            settings.workspace_creation_rate
        ),
        (100, 10)
    );
    for i in 0..100 {
        org.get_or_create_workspace(&ext(&format!("cust-{i:03}")))
            .unwrap();
    }
    let message = assert_rate_limited(
        org.get_or_create_workspace(&ext("cust-100")),
        Duration::from_millis(100),
    );
    assert_eq!(message, "rate limited, retry after 1 s");
}

#[test]
fn limit_settings_are_validated_persisted_and_applied() {
    let db = Db::new();
    let org = db.org("Acme");
    for (burst, rate, field) in [
        (0, 10, "workspace_creation_burst"),
        (10, 0, "workspace_creation_rate"),
        (
            OrgSettings::MAX_CREATION_LIMIT + 1,
            10,
            "workspace_creation_burst",
        ),
    ] {
        assert_invalid(
            org.update_settings(&OrgSettings {
                workspace_creation_burst: burst,
                workspace_creation_rate: rate,
                ..OrgSettings::default()
            }),
            field,
        );
    }
    let settings = OrgSettings {
        workspace_creation_burst: 1,
        workspace_creation_rate: 4,
        ..OrgSettings::default()
    };
    org.update_settings(&settings).unwrap();
    let org_id = org.org_id();
    drop(org);
    let db = db.reopen();
    let org = db.engine.operator_org_scope(org_id).unwrap();
    assert_eq!(org.reload().unwrap().settings, settings);
    token_for(&org, "cust-1").unwrap();
    assert_rate_limited(token_for(&org, "cust-2"), Duration::from_millis(250));
}

#[test]
fn counters_count_creations_tokens_and_denials_per_organization() {
    let db = Db::new();
    let org = limited_org(&db, "Acme", 2, 1);
    let other = db.org("Other");
    assert_eq!(org.stats(), OrgStats::default());

    let read_only = org
        .scoped_token(
            &ScopedTokenRequest::new(ext("cust-a"))
                .operations(OperationSet::from_iter([Operation::ReadWorkspace])),
        )
        .unwrap();
    issue(&org, "cust-a");
    issue(&org, "cust-b");
    assert_rate_limited(token_for(&org, "cust-c"), Duration::from_secs(1));
    assert_rate_limited(token_for(&org, "cust-d"), Duration::from_secs(1));

    // Permission denied: the token does not grant reading sources.
    let ws = db.engine.authenticate(read_only.token.expose()).unwrap();
    assert!(matches!(
        ws.list_sources(&Page::first(10)),
        Err(Error::PermissionDenied { .. })
    ));
    // Invalid tokens of the organization: a revoked one, and an expired one.
    org.revoke_token(read_only.token.expose()).unwrap();
    assert_token_rejected(
        db.engine.authenticate(read_only.token.expose()),
        TokenRejection::Revoked,
    );
    let short = org
        .scoped_token(&ScopedTokenRequest::new(ext("cust-b")).ttl(Duration::from_secs(60)))
        .unwrap();
    db.clock.advance(Duration::from_secs(3600));
    assert!(matches!(
        db.engine.authenticate(short.token.expose()),
        Err(Error::TokenExpired { .. })
    ));
    // Garbage is nobody's.
    assert_token_rejected(
        db.engine.authenticate("not-a-token"),
        TokenRejection::Malformed,
    );

    assert_eq!(
        org.stats(),
        OrgStats {
            workspaces_created: 2,
            tokens_issued: 4,
            rate_limited: 2,
            permission_denied: 1,
            invalid_tokens: 2,
            isolation_breaches: 0,
            // The second rate-limited creation, within the minute of the first.
            denials_not_logged: 1,
        }
    );
    // A second scope of the organization sees the same counters; another organization has
    // its own.
    let again = db.engine.operator_org_scope(org.org_id()).unwrap();
    assert_eq!(again.stats(), org.stats());
    assert_eq!(other.stats(), OrgStats::default());
}
