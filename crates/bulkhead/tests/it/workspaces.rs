//! Workspace get-or-create and external ids, through the public API on a SQLite file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use bulkhead::{Error, ExternalId, WorkspaceFilter, WorkspaceStatus};
use common::{Db, all_workspaces, assert_invalid, ext};

#[test]
fn same_external_id_returns_the_same_workspace() {
    let db = Db::new();
    let org = db.org("Acme");
    let id = ext("customer-unique-id-123");

    let first = org.get_or_create_workspace(&id).unwrap();
    db.tick();
    let second = org.get_or_create_workspace(&id).unwrap();

    assert!(first.created, "the first call creates the workspace");
    assert!(!second.created, "the second call finds it");
    assert_eq!(second.workspace, first.workspace);
    assert_eq!(first.workspace.external_id, id);
    assert_eq!(first.workspace.org_id, org.org_id());
    assert_eq!(first.workspace.status, WorkspaceStatus::Active);
    assert_eq!(org.workspace_by_external_id(&id).unwrap(), first.workspace);
}

#[test]
fn external_ids_differing_only_in_case_are_different_workspaces() {
    let db = Db::new();
    let org = db.org("Acme");

    let upper = org.get_or_create_workspace(&ext("Cust-1")).unwrap();
    let lower = org.get_or_create_workspace(&ext("cust-1")).unwrap();

    assert!(upper.created);
    assert!(lower.created, "`cust-1` is a new customer, not `Cust-1`");
    assert_ne!(upper.workspace.id, lower.workspace.id);
    assert_eq!(upper.workspace.external_id.as_str(), "Cust-1");
    assert_eq!(lower.workspace.external_id.as_str(), "cust-1");
    let listed = all_workspaces(&org, &WorkspaceFilter::default(), 100);
    assert_eq!(listed.len(), 2);
}

#[test]
fn unknown_external_id_is_not_found_and_not_created() {
    let db = Db::new();
    let org = db.org("Acme");
    org.get_or_create_workspace(&ext("Cust-1")).unwrap();

    let err = org.workspace_by_external_id(&ext("CUST-1")).unwrap_err();

    assert!(err.is_not_found(), "{err:?}");
    assert!(
        matches!(&err, Error::ExternalIdNotFound { external_id } if external_id == "CUST-1"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("case-sensitive"),
        "the message tells the user why: {err}"
    );
    assert_eq!(
        all_workspaces(&org, &WorkspaceFilter::default(), 100).len(),
        1
    );
}

#[test]
fn invalid_external_ids_are_rejected_naming_external_id() {
    let too_long = "a".repeat(256);
    let too_long_multibyte = "é".repeat(128); // 256 bytes in 128 characters
    let invalid = [
        "",
        too_long.as_str(),
        too_long_multibyte.as_str(),
        "cust\u{0}1",
        "cust\n1",
        "cust\t1",
        "cust\u{7f}1",
        "\u{1b}[31mred",
        " cust-1",
        "cust-1 ",
        "\u{a0}cust-1",
        "   ",
    ];
    for text in invalid {
        assert_invalid(text.parse::<ExternalId>(), "external_id");
        assert_invalid(ExternalId::new(text), "external_id");
        assert_invalid(ExternalId::try_from(text.to_owned()), "external_id");
        let json = serde_json::to_string(text).unwrap();
        let err = serde_json::from_str::<ExternalId>(&json)
            .expect_err("deserializing applies the same rules");
        assert!(err.to_string().contains("external_id"), "{text:?}: {err}");
    }
}

#[test]
fn external_id_of_255_bytes_is_accepted_and_stored_exactly() {
    let db = Db::new();
    let org = db.org("Acme");
    let ascii = "a".repeat(255);
    let multibyte = format!("{}z", "é".repeat(127)); // 254 + 1 bytes

    for text in [ascii, multibyte] {
        assert_eq!(text.len(), 255);
        let id: ExternalId = text.parse().unwrap();
        let made = org.get_or_create_workspace(&id).unwrap();
        assert!(made.created);
        assert_eq!(made.workspace.external_id.as_str(), text);
        let found = org.workspace_by_external_id(&id).unwrap();
        assert_eq!(found.external_id.as_str(), text);
        assert_eq!(found.id, made.workspace.id);
    }
}

#[test]
fn inner_spaces_and_unicode_are_valid_external_ids() {
    let db = Db::new();
    let org = db.org("Acme");
    for text in ["cust abc 123", "клиент-7", "客户/42", "a"] {
        let made = org.get_or_create_workspace(&ext(text)).unwrap();
        assert!(made.created, "{text}");
        assert_eq!(made.workspace.external_id.as_str(), text);
    }
}

#[test]
fn same_external_id_in_two_organizations_is_two_workspaces() {
    let db = Db::new();
    let org1 = db.org("Acme");
    let org2 = db.org("Globex");

    let in_org1 = org1.get_or_create_workspace(&ext("cust-1")).unwrap();
    let in_org2 = org2.get_or_create_workspace(&ext("cust-1")).unwrap();

    assert!(in_org1.created);
    assert!(
        in_org2.created,
        "another organization's customer is not ours"
    );
    assert_ne!(in_org1.workspace.id, in_org2.workspace.id);
    assert_eq!(in_org2.workspace.org_id, org2.org_id());
    assert_eq!(
        org1.workspace_by_external_id(&ext("cust-1")).unwrap().id,
        in_org1.workspace.id
    );
}

#[test]
fn new_workspace_is_named_after_its_external_id_and_stamped_by_the_clock() {
    let db = Db::new();
    let org = db.org("Acme");
    db.tick();
    let now = db.now();

    let made = org.get_or_create_workspace(&ext("cust_abc123")).unwrap();

    assert_eq!(made.workspace.name.as_str(), "cust_abc123");
    assert_eq!(made.workspace.created_at, now);
    assert_eq!(made.workspace.updated_at, now);
}

/// The organization of the listing tests: eight customers, two of them switched off.
fn listing_org(db: &Db) -> bulkhead::OrgScope {
    let org = db.org("Acme");
    for text in [
        "acme-2", "beta-1", "acme-1", "Acme-3", "acme_x", "acme", "acmex-9", "zeta",
    ] {
        org.get_or_create_workspace(&ext(text)).unwrap();
        db.tick();
    }
    for text in ["acme-2", "beta-1"] {
        let id = org.workspace_by_external_id(&ext(text)).unwrap().id;
        let update = bulkhead::WorkspaceUpdate {
            status: Some(WorkspaceStatus::Inactive),
            ..Default::default()
        };
        let updated = org.update_workspace(id, &update).unwrap();
        assert_eq!(updated.status, WorkspaceStatus::Inactive);
    }
    org
}

fn external_ids(org: &bulkhead::OrgScope, filter: &WorkspaceFilter, limit: u32) -> Vec<String> {
    all_workspaces(org, filter, limit)
        .into_iter()
        .map(|w| w.external_id.as_str().to_owned())
        .collect()
}

fn prefix(text: &str) -> WorkspaceFilter {
    WorkspaceFilter {
        external_id_prefix: Some(text.to_owned()),
        status: None,
        name_contains: None,
    }
}

#[test]
fn workspace_list_is_ordered_by_external_id_and_paginates() {
    let db = Db::new();
    let org = listing_org(&db);
    let expected = [
        "Acme-3", "acme", "acme-1", "acme-2", "acme_x", "acmex-9", "beta-1", "zeta",
    ];

    for limit in [1, 3, 100] {
        assert_eq!(
            external_ids(&org, &WorkspaceFilter::default(), limit),
            expected,
            "pages of {limit}"
        );
    }
    let first = org
        .list_workspaces(&WorkspaceFilter::default(), &bulkhead::Page::first(3))
        .unwrap();
    assert_eq!(first.items.len(), 3);
    assert!(first.next.is_some());
}

#[test]
fn workspace_list_prefix_filter_is_exact_and_case_sensitive() {
    let db = Db::new();
    let org = listing_org(&db);

    assert_eq!(
        external_ids(&org, &prefix("acme-"), 100),
        ["acme-1", "acme-2"]
    );
    assert_eq!(
        external_ids(&org, &prefix("acme"), 2),
        ["acme", "acme-1", "acme-2", "acme_x", "acmex-9"]
    );
    assert_eq!(external_ids(&org, &prefix("Acme"), 100), ["Acme-3"]);
    // `_` and `%` are text, not wildcards.
    assert_eq!(external_ids(&org, &prefix("acme_"), 100), ["acme_x"]);
    assert!(external_ids(&org, &prefix("%"), 100).is_empty());
    assert!(external_ids(&org, &prefix("acme%"), 100).is_empty());
    assert!(external_ids(&org, &prefix("nobody"), 100).is_empty());
    assert_eq!(external_ids(&org, &prefix("zeta"), 100), ["zeta"]);
}

#[test]
fn workspace_list_status_filter_returns_exactly_the_matching_ones() {
    let db = Db::new();
    let org = listing_org(&db);
    let with_status = |status| WorkspaceFilter {
        external_id_prefix: None,
        status: Some(status),
        name_contains: None,
    };

    assert_eq!(
        external_ids(&org, &with_status(WorkspaceStatus::Inactive), 1),
        ["acme-2", "beta-1"]
    );
    assert_eq!(
        external_ids(&org, &with_status(WorkspaceStatus::Active), 2),
        ["Acme-3", "acme", "acme-1", "acme_x", "acmex-9", "zeta"]
    );
    let both = WorkspaceFilter {
        external_id_prefix: Some("acme-".to_owned()),
        status: Some(WorkspaceStatus::Inactive),
        name_contains: None,
    };
    assert_eq!(external_ids(&org, &both, 100), ["acme-2"]);
}

#[test]
fn renaming_a_workspace_keeps_its_external_id() {
    let db = Db::new();
    let org = db.org("Acme");
    let made = org
        .get_or_create_workspace(&ext("cust-1"))
        .unwrap()
        .workspace;
    db.tick();

    let update = bulkhead::WorkspaceUpdate {
        name: Some("Customer One".parse().unwrap()),
        ..Default::default()
    };
    let renamed = org.update_workspace(made.id, &update).unwrap();

    assert_eq!(renamed.name.as_str(), "Customer One");
    assert_eq!(renamed.external_id, made.external_id);
    assert_eq!(renamed.status, made.status);
    assert_eq!(renamed.created_at, made.created_at);
    assert_eq!(renamed.updated_at, db.now());
    let again = org.get_or_create_workspace(&ext("cust-1")).unwrap();
    assert!(!again.created);
    assert_eq!(again.workspace, renamed);
}
