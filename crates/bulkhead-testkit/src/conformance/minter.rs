//! The token minter: no store call per token until something changes.

use std::collections::BTreeSet;
use std::time::Duration;

use bulkhead_core::{Error, IssuedToken, ScopedTokenRequest, WorkspaceStatus, WorkspaceUpdate};

use super::{Harness, ext, kid_of, new_org};

/// A [`bulkhead_core::TokenMinter`] makes no store call at all per token while nothing
/// changes (the reason it exists), and each token authenticates to exactly its workspace
/// with the requested operations and lifetime and a `jti` of its own. A change made through
/// the same engine is seen by the next mint: a deactivated workspace gets no token until it
/// is active again, a rotated signing key signs the next token, a deleted workspace gets
/// none. Needs a harness with faults (which counts the store calls).
pub fn a_minter_makes_no_store_call_per_token_until_something_changes(
    factory: &dyn Fn() -> Harness,
) {
    let h = factory();
    let faults = h.faults().expect("a harness with faults");
    let (org, _) = new_org(&h, "Acme");
    let (other, _) = new_org(&h, "Other");
    let theirs = other
        .scoped_token(&ScopedTokenRequest::new(ext("cust-1")))
        .unwrap();
    let operations = bulkhead_core::OperationSet::read_only();
    let request = ScopedTokenRequest::new(ext("cust-1"))
        .ttl(Duration::from_secs(90))
        .operations(operations);
    let minter = org.token_minter(&request).unwrap();
    let workspace = org.workspace_by_external_id(&ext("cust-1")).unwrap();
    assert_eq!(minter.workspace_id(), workspace.id);
    assert_ne!(workspace.id, theirs.workspace_id);

    faults.count_writes();
    let tokens: Vec<IssuedToken> = (0..20).map(|_| minter.mint().unwrap()).collect();
    assert_eq!(
        (faults.reads(), faults.writes()),
        (0, 0),
        "minting called the store"
    );
    let jtis: BTreeSet<&str> = tokens.iter().map(|t| t.token_id.as_str()).collect();
    assert_eq!(jtis.len(), tokens.len(), "a jti repeats");
    for issued in &tokens {
        assert_eq!(issued.workspace_id, workspace.id);
        assert!(!issued.workspace_created);
        let claims = h.engine().verify_token(issued.token.expose()).unwrap();
        assert_eq!(claims.workspace_id, workspace.id);
        assert_eq!(claims.org_id, org.org_id());
        assert_eq!(claims.operations, operations);
        assert_eq!(claims.expires_at - claims.issued_at, 90);
        assert_eq!(claims.token_id, issued.token_id);
        assert_eq!(issued.expires_at, claims.expiry());
        let scope = h.engine().authenticate(issued.token.expose()).unwrap();
        assert_eq!(scope.workspace_id(), workspace.id);
    }

    let status = |status| WorkspaceUpdate {
        status: Some(status),
        ..WorkspaceUpdate::default()
    };
    org.update_workspace(workspace.id, &status(WorkspaceStatus::Inactive))
        .unwrap();
    match minter.mint() {
        Err(Error::WorkspaceInactive { workspace_id }) => assert_eq!(workspace_id, workspace.id),
        other => panic!("expected an inactive workspace, got {other:?}"),
    }
    org.update_workspace(workspace.id, &status(WorkspaceStatus::Active))
        .unwrap();
    let again = minter.mint().unwrap();
    h.engine().authenticate(again.token.expose()).unwrap();

    let rotated = org.rotate_signing_key().unwrap();
    assert_ne!(kid_of(again.token.expose()), rotated.kid);
    let after = minter.mint().unwrap();
    assert_eq!(kid_of(after.token.expose()), rotated.kid);
    h.engine().authenticate(after.token.expose()).unwrap();

    org.delete_workspace(workspace.id).unwrap();
    assert!(
        matches!(minter.mint(), Err(Error::NotFound { .. })),
        "a deleted workspace got a token"
    );
    // The other organization's workspace was never touched.
    h.engine().authenticate(theirs.token.expose()).unwrap();
}
