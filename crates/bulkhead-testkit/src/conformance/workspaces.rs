//! Scoped tokens and workspaces: one workspace per external id, tokens that reach their own
//! workspace only and stop when revoked, expired, or their workspace is gone, inactive workspaces,
//! retention, and the organization's workspace list.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bulkhead_core::{
    ConnectionId, ConnectionStatus, ConnectionUpdate, Error, Page, ScopedTokenRequest,
    TokenRejection, WorkspaceFilter, WorkspaceId, WorkspaceScope, WorkspaceStatus, WorkspaceUpdate,
};

use super::{
    Harness, LEEWAY, View, actions, all_audit, all_pages, all_workspaces, any_of,
    assert_token_rejected, ext, install_catalog, new_org, pipeline, raw_source, token_scope,
    view_of, workspace,
};

/// Scoped tokens for one external id all get the one workspace, created by the first.
pub fn scoped_token_gets_or_creates_one_workspace_per_external_id(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let request = ScopedTokenRequest::new(ext("cust-1"));
    let first = org.scoped_token(&request).unwrap();
    assert!(first.workspace_created);
    let second = org.scoped_token(&request).unwrap();
    assert!(!second.workspace_created);
    assert_eq!(first.workspace_id, second.workspace_id);
    let got = org.get_or_create_workspace(&ext("cust-1")).unwrap();
    assert!(!got.created);
    assert_eq!(got.workspace.id, first.workspace_id);
    let all = all_workspaces(&org, 10).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].external_id, ext("cust-1"));
    assert_eq!(all[0].org_id, org.org_id());
}

/// External ids are exact, case-sensitive, and unique per organization only.
pub fn external_ids_are_per_organization_and_case_sensitive(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let lower = acme.get_or_create_workspace(&ext("cust-1")).unwrap();
    let upper = acme.get_or_create_workspace(&ext("Cust-1")).unwrap();
    let other = globex.get_or_create_workspace(&ext("cust-1")).unwrap();
    assert!(lower.created && upper.created && other.created);
    let ids: BTreeSet<WorkspaceId> = [lower.workspace.id, upper.workspace.id, other.workspace.id]
        .into_iter()
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(
        acme.workspace_by_external_id(&ext("cust-1")).unwrap().id,
        lower.workspace.id
    );
    assert_eq!(
        globex.workspace_by_external_id(&ext("cust-1")).unwrap().id,
        other.workspace.id
    );
    h.assert_not_found(acme.workspace_by_external_id(&ext("CUST-1")));
    h.assert_not_found(globex.workspace_by_external_id(&ext("Cust-1")));
}

/// A scoped-token request stores its tag selections on the workspace; one without keeps them.
pub fn scoped_token_request_stores_the_tag_selection(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    install_catalog(&h, &org);
    let issued = org
        .scoped_token(
            &ScopedTokenRequest::new(ext("cust-1"))
                .source_tags(any_of(&["production"]))
                .connection_tags(any_of(&["premium"])),
        )
        .unwrap();
    let ws = org.get_workspace(issued.workspace_id).unwrap();
    assert_eq!(ws.source_tags, any_of(&["production"]));
    assert_eq!(ws.connection_tags, any_of(&["premium"]));

    org.scoped_token(&ScopedTokenRequest::new(ext("cust-1")))
        .unwrap();
    let kept = org.get_workspace(issued.workspace_id).unwrap();
    assert_eq!(kept.source_tags, any_of(&["production"]));

    org.scoped_token(&ScopedTokenRequest::new(ext("cust-1")).source_tags(any_of(&["premium"])))
        .unwrap();
    let changed = org.get_workspace(issued.workspace_id).unwrap();
    assert_eq!(changed.source_tags, any_of(&["premium"]));
    assert_eq!(changed.connection_tags, any_of(&["premium"]));
}

/// A scoped token authenticates to its own workspace and sees nothing of another.
pub fn scoped_token_reaches_its_own_workspace_only(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (issued, mine) = token_scope(&h, &org, "cust-1");
    assert_eq!(mine.workspace_id(), issued.workspace_id);
    assert_eq!(mine.org_id(), org.org_id());
    assert!(mine.token_id().is_some());
    let theirs = workspace(&org, "cust-2");
    let (source, _, _) = pipeline(&theirs, "theirs");
    h.assert_not_found(mine.get_source(source.id));
    if let Some(view) = view_of(&h, &mine, 10) {
        assert_eq!(view, View::default());
    }
    assert_eq!(mine.workspace().unwrap().external_id, ext("cust-1"));
}

/// A token is accepted until its expiry plus the leeway, refused after; a new one works.
pub fn expired_scoped_token_is_refused_and_a_new_one_works(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (issued, _) = token_scope(&h, &org, "cust-1");
    h.clock.set(issued.expires_at.plus(LEEWAY));
    assert!(h.engine().authenticate(issued.token.expose()).is_ok());
    h.clock.advance(Duration::from_millis(1));
    assert!(matches!(
        h.engine().authenticate(issued.token.expose()),
        Err(Error::TokenExpired { .. })
    ));
    let (fresh, scope) = token_scope(&h, &org, "cust-1");
    assert_eq!(fresh.workspace_id, issued.workspace_id);
    assert_eq!(scope.workspace_id(), issued.workspace_id);
}

/// A revoked token is refused; another token of the same workspace still works.
pub fn revoked_scoped_token_is_refused_and_the_others_still_work(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (revoked, _) = token_scope(&h, &org, "cust-1");
    let (kept, _) = token_scope(&h, &org, "cust-1");
    org.revoke_token(revoked.token.expose()).unwrap();
    assert_token_rejected(
        h.engine().authenticate(revoked.token.expose()),
        TokenRejection::Revoked,
    );
    assert!(h.engine().authenticate(kept.token.expose()).is_ok());
}

/// "Revoke all" refuses every token issued until then; tokens minted later work.
pub fn revoking_all_tokens_refuses_the_earlier_ones_only(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (old, _) = token_scope(&h, &org, "cust-1");
    let (other, _) = token_scope(&h, &org, "cust-2");
    h.tick();
    org.revoke_all_tokens(old.workspace_id).unwrap();
    h.tick();
    assert_token_rejected(
        h.engine().authenticate(old.token.expose()),
        TokenRejection::Revoked,
    );
    assert!(h.engine().authenticate(other.token.expose()).is_ok());
    let (_, fresh) = token_scope(&h, &org, "cust-1");
    assert_eq!(fresh.workspace_id(), old.workspace_id);
}

/// An organization cannot revoke, or revoke all of, another organization's tokens.
pub fn another_organizations_tokens_cannot_be_revoked(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let (issued, _) = token_scope(&h, &acme, "cust-1");
    assert_token_rejected(
        globex.revoke_token(issued.token.expose()),
        TokenRejection::Organization,
    );
    h.assert_not_found(globex.revoke_all_tokens(issued.workspace_id));
    h.tick();
    assert!(h.engine().authenticate(issued.token.expose()).is_ok());
}
/// A token whose header `kid` no engine makes (a NUL or another control character, empty,
/// longer than 64 bytes, outside base64url) is an invalid token (unknown key) on every store,
/// never a storage error: the `kid` is checked before any lookup. PostgreSQL refuses a NUL in
/// `text`, so before the check such a token from anyone turned into a storage error there.
pub fn kid_that_no_engine_makes_is_an_unknown_key(factory: &dyn Fn() -> Harness) {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (issued, _) = token_scope(&h, &acme, "cust-1");
    let token = issued.token.expose();
    let mut parts = token.split('.');
    let (_, claims, signature) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
    let long = "k".repeat(65);
    let huge = "k".repeat(2_000);
    for kid in [
        r"\u0000",
        r"abc\u0000",
        r"\u0001",
        r"\n",
        "",
        long.as_str(),
        huge.as_str(),
        "kid with spaces",
        r"\u00e9",
        "'; SELECT 1; --",
    ] {
        let header = format!(
            r#"{{"alg":"HS256","typ":"{}","kid":"{kid}"}}"#,
            bulkhead_core::token::TOKEN_TYPE
        );
        let forged = format!(
            "{}.{claims}.{signature}",
            URL_SAFE_NO_PAD.encode(header.as_bytes())
        );
        assert_token_rejected(h.engine().verify_token(&forged), TokenRejection::UnknownKey);
        assert_token_rejected(h.engine().authenticate(&forged), TokenRejection::UnknownKey);
    }
    // The engine still answers.
    assert!(h.engine().authenticate(token).is_ok());
}

/// A token of a deleted workspace is refused; its external id answers "workspace deleted"
/// until the workspace is purged, then starts a new workspace.
pub fn token_of_a_deleted_workspace_is_refused(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (issued, _) = token_scope(&h, &org, "cust-1");
    org.delete_workspace(issued.workspace_id).unwrap();
    h.assert_not_found(h.engine().authenticate(issued.token.expose()));
    h.assert_not_found(org.get_workspace(issued.workspace_id));
    h.assert_not_found(org.workspace(issued.workspace_id));
    for result in [
        org.scoped_token(&ScopedTokenRequest::new(ext("cust-1")))
            .map(|_| ()),
        org.get_or_create_workspace(&ext("cust-1")).map(|_| ()),
        org.workspace_by_external_id(&ext("cust-1")).map(|_| ()),
    ] {
        assert!(
            matches!(&result, Err(Error::WorkspaceDeleted { external_id }) if external_id == "cust-1"),
            "{result:?}"
        );
    }
    assert!(
        all_workspaces(&org, 10)
            .unwrap()
            .iter()
            .all(|w| w.id != issued.workspace_id)
    );
    org.purge_workspace(issued.workspace_id).unwrap();
    let (fresh, _) = token_scope(&h, &org, "cust-1");
    assert!(fresh.workspace_created);
    assert_ne!(fresh.workspace_id, issued.workspace_id);
}

/// An inactive workspace refuses its tokens and gets no new ones.
pub fn inactive_workspace_refuses_its_tokens(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (issued, _) = token_scope(&h, &org, "cust-1");
    let update = WorkspaceUpdate {
        status: Some(WorkspaceStatus::Inactive),
        ..WorkspaceUpdate::default()
    };
    org.update_workspace(issued.workspace_id, &update).unwrap();
    assert!(matches!(
        h.engine().authenticate(issued.token.expose()),
        Err(Error::WorkspaceInactive { .. })
    ));
    assert!(matches!(
        org.scoped_token(&ScopedTokenRequest::new(ext("cust-1"))),
        Err(Error::WorkspaceInactive { .. })
    ));
}

/// Making a workspace inactive pauses its active connections and leaves the organization a
/// scope that only reads; making it active again resumes exactly the connections it paused.
pub fn inactive_workspace_pauses_its_connections_and_resumes_them(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    let (_, _, running) = pipeline(&ws, "running");
    let (_, _, stopped) = pipeline(&ws, "stopped");
    ws.update_connection(
        stopped.id,
        &ConnectionUpdate {
            status: Some(ConnectionStatus::Inactive),
            ..ConnectionUpdate::default()
        },
    )
    .unwrap();
    let other = workspace(&org, "cust-2");
    let (_, _, elsewhere) = pipeline(&other, "elsewhere");
    let status = |update| WorkspaceUpdate {
        status: Some(update),
        ..WorkspaceUpdate::default()
    };

    org.update_workspace(ws.workspace_id(), &status(WorkspaceStatus::Inactive))
        .unwrap();
    let read_only = org.workspace(ws.workspace_id()).unwrap();
    // Behind a leaky store a listing may be refused (a counted breach): the view is then read
    // by id, and only without a dump is there nothing to compare.
    let statuses = |scope: &WorkspaceScope| -> Option<BTreeMap<ConnectionId, ConnectionStatus>> {
        view_of(&h, scope, 10).map(|view| {
            view.connections
                .into_iter()
                .map(|c| (c.id, c.status))
                .collect()
        })
    };
    let check = |got: Option<BTreeMap<ConnectionId, ConnectionStatus>>,
                 expected: &[(ConnectionId, ConnectionStatus)]| {
        if let Some(got) = got {
            assert_eq!(got, expected.iter().copied().collect());
        }
    };
    check(
        statuses(&read_only),
        &[
            (running.id, ConnectionStatus::Inactive),
            (stopped.id, ConnectionStatus::Inactive),
        ],
    );
    assert!(matches!(
        read_only.start_sync(running.id),
        Err(Error::WorkspaceInactive { .. })
    ));
    assert!(matches!(
        read_only.create_source(raw_source("new")),
        Err(Error::WorkspaceInactive { .. })
    ));
    // Another workspace's connections are untouched.
    check(
        statuses(&other),
        &[(elsewhere.id, ConnectionStatus::Active)],
    );

    org.update_workspace(ws.workspace_id(), &status(WorkspaceStatus::Active))
        .unwrap();
    let active = org.workspace(ws.workspace_id()).unwrap();
    check(
        statuses(&active),
        &[
            (running.id, ConnectionStatus::Active),
            (stopped.id, ConnectionStatus::Inactive),
        ],
    );
    active.start_sync(running.id).unwrap();
    let audit = all_audit(&org);
    let updates = actions(&audit)
        .into_iter()
        .filter(|a| *a == "workspace.update")
        .count();
    assert_eq!(updates, 2);
}

/// One call purges every workspace deleted at least the retention period ago, and no other;
/// each purge is audited and frees the external id.
pub fn purging_deleted_workspaces_respects_the_retention(factory: &dyn Fn() -> Harness) {
    const DAY: Duration = Duration::from_secs(86_400);
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (other, _) = new_org(&h, "Globex");
    let old = workspace(&org, "old");
    let recent = workspace(&org, "recent");
    let live = workspace(&org, "live");
    let foreign = workspace(&other, "old");
    org.delete_workspace(old.workspace_id()).unwrap();
    other.delete_workspace(foreign.workspace_id()).unwrap();
    h.clock.advance(10 * DAY);
    org.delete_workspace(recent.workspace_id()).unwrap();

    assert_eq!(org.purge_deleted_workspaces(7 * DAY).unwrap(), 1);
    assert!(
        !org.get_or_create_workspace(&ext("old"))
            .unwrap()
            .workspace
            .is_deleted()
    );
    assert!(matches!(
        org.get_or_create_workspace(&ext("recent")),
        Err(Error::WorkspaceDeleted { .. })
    ));
    assert!(matches!(
        other.get_or_create_workspace(&ext("old")),
        Err(Error::WorkspaceDeleted { .. })
    ));
    assert_eq!(
        org.get_workspace(live.workspace_id()).unwrap().id,
        live.workspace_id()
    );

    h.clock.advance(8 * DAY);
    assert_eq!(org.purge_deleted_workspaces(7 * DAY).unwrap(), 1);
    assert!(org.get_or_create_workspace(&ext("recent")).unwrap().created);
    assert_eq!(org.purge_deleted_workspaces(Duration::ZERO).unwrap(), 0);
    let audit = all_audit(&org);
    let got = actions(&audit);
    assert_eq!(got.iter().filter(|a| **a == "workspace.delete").count(), 2);
    assert_eq!(got.iter().filter(|a| **a == "workspace.purge").count(), 2);
    assert!(org.verify_audit().unwrap().is_intact());
}

/// An organization's workspaces list in pages by external id, without another's.
pub fn workspaces_list_in_pages_by_external_id(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let names = ["d", "a", "c-2", "b", "c-1", "e", "C"];
    for name in names {
        acme.get_or_create_workspace(&ext(name)).unwrap();
    }
    globex.get_or_create_workspace(&ext("a")).unwrap();
    let mut expected: Vec<&str> = names.to_vec();
    expected.sort_unstable();
    for limit in 1..=8 {
        let Some(all) = h.answer(all_workspaces(&acme, limit)) else {
            continue;
        };
        let got: Vec<&str> = all.iter().map(|w| w.external_id.as_str()).collect();
        assert_eq!(got, expected, "limit {limit}");
        assert!(all.iter().all(|w| w.org_id == acme.org_id()));
    }
    let filter = WorkspaceFilter {
        external_id_prefix: Some("c-".to_owned()),
        status: None,
        name_contains: None,
    };
    if let Some(page) = h.answer(acme.list_workspaces(&filter, &Page::first(10))) {
        let got: Vec<&str> = page.items.iter().map(|w| w.external_id.as_str()).collect();
        assert_eq!(got, ["c-1", "c-2"]);
    }
}

/// The name filter matches a substring of the display name ignoring the case of ASCII letters
/// only (so both adapters agree whatever their locale), takes `%` and `_` literally, pages
/// like the whole list, combines with the status filter, and never reaches another
/// organization's workspaces.
pub fn workspaces_filter_by_name_contains_ignoring_ascii_case(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let names = [
        ("a", "Alpha Corp"),
        ("b", "beta CORP"),
        ("c", "Gamma"),
        ("d", "Ünïcode corp"),
        ("e", "50% off_sale"),
    ];
    for (external_id, name) in names {
        let id = acme
            .get_or_create_workspace(&ext(external_id))
            .unwrap()
            .workspace
            .id;
        let rename = WorkspaceUpdate {
            name: Some(name.parse().unwrap()),
            ..WorkspaceUpdate::default()
        };
        acme.update_workspace(id, &rename).unwrap();
    }
    let theirs = globex.get_or_create_workspace(&ext("a")).unwrap().workspace;
    let rename = WorkspaceUpdate {
        name: Some("Alpha Corp".parse().unwrap()),
        ..WorkspaceUpdate::default()
    };
    globex.update_workspace(theirs.id, &rename).unwrap();
    let b = acme.workspace_by_external_id(&ext("b")).unwrap();
    acme.update_workspace(
        b.id,
        &WorkspaceUpdate {
            status: Some(WorkspaceStatus::Inactive),
            ..WorkspaceUpdate::default()
        },
    )
    .unwrap();

    let matching = |text: &str, status: Option<WorkspaceStatus>, limit: u32| {
        let filter = WorkspaceFilter {
            name_contains: Some(text.to_owned()),
            status,
            ..WorkspaceFilter::default()
        };
        h.answer(all_pages(limit, |p| acme.list_workspaces(&filter, p)))
            .map(|all| {
                assert!(all.iter().all(|w| w.org_id == acme.org_id()));
                all.iter()
                    .map(|w| w.external_id.as_str().to_owned())
                    .collect::<Vec<_>>()
            })
    };
    for limit in [1, 2, 10] {
        if let Some(got) = matching("corp", None, limit) {
            assert_eq!(got, ["a", "b", "d"], "limit {limit}");
        }
    }
    let cases: [(&str, Option<WorkspaceStatus>, &[&str]); 9] = [
        ("CoRp", None, &["a", "b", "d"]),
        ("corp", Some(WorkspaceStatus::Active), &["a", "d"]),
        ("corp", Some(WorkspaceStatus::Inactive), &["b"]),
        ("ha c", None, &["a"]),
        ("Ünï", None, &["d"]),
        // Only ASCII letters fold: `Ï` does not match `ï`.
        ("ÜNÏ", None, &[]),
        ("%", None, &["e"]),
        ("f_s", None, &["e"]),
        ("", None, &["a", "b", "c", "d", "e"]),
    ];
    for (text, status, expected) in cases {
        if let Some(got) = matching(text, status, 10) {
            assert_eq!(got, expected, "name_contains {text:?}, status {status:?}");
        }
    }
    for bad in ["x\u{7}y".to_owned(), "x".repeat(256)] {
        let filter = WorkspaceFilter {
            name_contains: Some(bad),
            ..WorkspaceFilter::default()
        };
        assert!(matches!(
            acme.list_workspaces(&filter, &Page::first(10)),
            Err(Error::InvalidInput { .. })
        ));
    }
}

/// Another organization's workspace id is not found by any organization call, and nothing in
/// it changes.
pub fn foreign_workspace_id_is_not_found_by_another_organization(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let theirs = workspace(&acme, "cust-1");
    let (source, destination, _) = pipeline(&theirs, "p");
    let before_ws = acme.get_workspace(theirs.workspace_id()).unwrap();
    let before = h.stored();
    let id = theirs.workspace_id();

    h.assert_not_found(globex.get_workspace(id));
    h.assert_not_found(globex.workspace(id));
    h.assert_not_found(globex.workspace_by_external_id(&ext("cust-1")));
    let rename = WorkspaceUpdate {
        name: Some("mine now".parse().unwrap()),
        status: Some(WorkspaceStatus::Inactive),
        ..WorkspaceUpdate::default()
    };
    h.assert_not_found(globex.update_workspace(id, &rename));
    h.assert_not_found(globex.revoke_all_tokens(id));
    h.assert_not_found(globex.reveal_source_config(id, source.id));
    h.assert_not_found(globex.reveal_destination_config(id, destination.id));
    h.assert_not_found(globex.delete_workspace(id));

    assert_eq!(h.stored(), before);
    assert_eq!(acme.get_workspace(id).unwrap(), before_ws);
    assert_eq!(theirs.get_source(source.id).unwrap(), source);
}
