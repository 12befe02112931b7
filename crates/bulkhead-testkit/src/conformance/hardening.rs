//! Conformance tests of the security review's fixes that every adapter must pass: refusals
//! coalesced in the audit chain (M1), emergency retirement of a signing key (M2), scopes that
//! follow their credential (L1), audited reveals and token issuance (L3).

use std::time::Duration;

use bulkhead_core::{AuditFilter, Error, Page, TokenRejection};

use super::{Harness, LEEWAY, all_audit, assert_token_rejected, new_org, token_scope};

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
