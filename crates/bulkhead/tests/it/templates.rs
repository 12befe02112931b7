//! Templates and tags: which templates a workspace sees, what creating a source from one makes
//! (atomically), tag and template CRUD, and configuration validation against a spec.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bulkhead::{
    ConnectionStatus, ConnectionTemplateId, ConnectionTemplateUpdate, ConnectorConfig,
    ConnectorUpdate, CronExpr, Error, NewSourceFromTemplate, ObjectKind, OrgScope, Page, Result,
    Schedule, SourceFromTemplate, SourceTemplateId, SourceTemplateUpdate, TagMode, TagSelection,
    WorkspaceScope, WorkspaceUpdate,
};
use common::catalog::{
    connection_template, create_tags, cron, customer, json_config, plain_connection_template,
    plain_source_template, raw_rows, select, source_template, spec, tag, tags,
};
use common::{
    Contents, Db, all_pages, assert_conflict, assert_invalid, assert_not_found, raw_connection,
};
use serde_json::json;

const NOT_AVAILABLE: &str = "template not available to this workspace";

fn from_template(
    template_id: SourceTemplateId,
    name: &str,
    config: serde_json::Value,
) -> NewSourceFromTemplate {
    NewSourceFromTemplate {
        template_id,
        name: name.parse().unwrap(),
        config: json_config(config),
    }
}

fn source_template_names(ws: &WorkspaceScope) -> Vec<String> {
    ws.source_templates()
        .unwrap()
        .into_iter()
        .map(|t| t.name.as_str().to_owned())
        .collect()
}

fn connection_template_names(ws: &WorkspaceScope) -> Vec<String> {
    ws.connection_templates()
        .unwrap()
        .into_iter()
        .map(|t| t.name.as_str().to_owned())
        .collect()
}

/// Asserts `result` is the one refusal for a template the workspace may not use.
#[track_caller]
fn assert_not_available<T: fmt::Debug>(result: Result<T>) -> String {
    match result {
        Err(
            ref err @ Error::PermissionDenied {
                ref operation,
                ref reason,
            },
        ) => {
            assert_eq!(operation, "sources:create");
            assert_eq!(reason, NOT_AVAILABLE);
            err.to_string()
        }
        other => panic!("expected `{NOT_AVAILABLE}`, got {other:?}"),
    }
}

#[track_caller]
fn assert_injected_storage_error<T: fmt::Debug>(result: Result<T>) {
    match result {
        Err(Error::Storage(e)) => assert!(e.message().contains("injected fault"), "{e}"),
        other => panic!("expected the injected storage error, got {other:?}"),
    }
}

/// Asserts the workspace holds no source, destination or connection, read through its scope.
#[track_caller]
fn assert_empty(ws: &WorkspaceScope) {
    assert!(all_pages(10, |p| ws.list_sources(p)).is_empty());
    assert!(all_pages(10, |p| ws.list_destinations(p)).is_empty());
    assert!(all_pages(10, |p| ws.list_connections(p)).is_empty());
}

/// The tag sets of the table's templates, by label; created in this order.
const TEMPLATE_TAGS: [(&str, &[&str]); 7] = [
    ("none", &[]),
    ("a", &["a"]),
    ("b", &["b"]),
    ("c", &["c"]),
    ("ab", &["a", "b"]),
    ("bc", &["b", "c"]),
    ("abc", &["a", "b", "c"]),
];

/// One row of the tag table: a selection and the labels it must list, in creation order.
struct Case {
    tags: &'static [&'static str],
    mode: TagMode,
    expected: &'static [&'static str],
}

const ALL_LABELS: &[&str] = &["none", "a", "b", "c", "ab", "bc", "abc"];

const CASES: [Case; 14] = [
    Case {
        tags: &[],
        mode: TagMode::Any,
        expected: ALL_LABELS,
    },
    Case {
        tags: &[],
        mode: TagMode::All,
        expected: ALL_LABELS,
    },
    Case {
        tags: &["a"],
        mode: TagMode::Any,
        expected: &["a", "ab", "abc"],
    },
    Case {
        tags: &["a"],
        mode: TagMode::All,
        expected: &["a", "ab", "abc"],
    },
    Case {
        tags: &["a", "b"],
        mode: TagMode::Any,
        expected: &["a", "b", "ab", "bc", "abc"],
    },
    Case {
        tags: &["a", "b"],
        mode: TagMode::All,
        expected: &["ab", "abc"],
    },
    Case {
        tags: &["a", "c"],
        mode: TagMode::Any,
        expected: &["a", "c", "ab", "bc", "abc"],
    },
    Case {
        tags: &["a", "c"],
        mode: TagMode::All,
        expected: &["abc"],
    },
    Case {
        tags: &["b", "c"],
        mode: TagMode::All,
        expected: &["bc", "abc"],
    },
    Case {
        tags: &["a", "b", "c"],
        mode: TagMode::All,
        expected: &["abc"],
    },
    Case {
        tags: &["a", "b", "c"],
        mode: TagMode::Any,
        expected: &["a", "b", "c", "ab", "bc", "abc"],
    },
    // A tag the organization has but no template carries.
    Case {
        tags: &["d"],
        mode: TagMode::Any,
        expected: &[],
    },
    Case {
        tags: &["a", "d"],
        mode: TagMode::All,
        expected: &[],
    },
    Case {
        tags: &["a", "d"],
        mode: TagMode::Any,
        expected: &["a", "ab", "abc"],
    },
];

fn source_label(label: &str) -> String {
    format!("S {label}")
}

fn connection_label(label: &str) -> String {
    format!("C {label}")
}

/// An organization with the tags `a` to `d` and one source and one connection template per
/// tag set of [`TEMPLATE_TAGS`].
fn tag_table_org(db: &Db, name: &str) -> OrgScope {
    let org = db.org(name);
    create_tags(&org, &["a", "b", "c", "d"]);
    for (label, tag_names) in TEMPLATE_TAGS {
        org.create_source_template(plain_source_template(&source_label(label), tag_names))
            .unwrap();
        org.create_connection_template(plain_connection_template(
            &connection_label(label),
            tag_names,
        ))
        .unwrap();
        db.tick();
    }
    org
}

#[track_caller]
fn assert_lists(ws: &WorkspaceScope, source: &Case, connection: &Case, how: &str) {
    let want_sources: Vec<String> = source.expected.iter().map(|l| source_label(l)).collect();
    let want_connections: Vec<String> = connection
        .expected
        .iter()
        .map(|l| connection_label(l))
        .collect();
    assert_eq!(
        source_template_names(ws),
        want_sources,
        "source templates for {:?} {} ({how})",
        source.tags,
        source.mode
    );
    assert_eq!(
        connection_template_names(ws),
        want_connections,
        "connection templates for {:?} {} ({how})",
        connection.tags,
        connection.mode
    );
}

#[test]
fn workspace_lists_exactly_the_templates_its_tag_selections_match() {
    let db = Db::new();
    let org = tag_table_org(&db, "Acme");
    // Another organization with the same tags and tag sets: none of its templates may appear.
    let other = tag_table_org(&db, "Other");
    let other_ids: BTreeSet<SourceTemplateId> = other
        .list_source_templates(None)
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();

    // A workspace whose selections are set by the organization, row after row.
    let (updated, updated_scope) = customer(&db, &org, "updated", None, None);
    assert_lists(&updated_scope, &CASES[0], &CASES[0], "no selection yet");

    for (i, case) in CASES.iter().enumerate() {
        let selection = TagSelection::new(case.tags.iter().map(|t| tag(t)), case.mode);
        // Source and connection selections are independent: pair each row with another.
        let other_case = &CASES[(i + 5) % CASES.len()];
        let other_selection =
            TagSelection::new(other_case.tags.iter().map(|t| tag(t)), other_case.mode);

        // Set by the scoped-token request, on a new workspace and on an existing one.
        let (_, ws) = customer(
            &db,
            &org,
            &format!("token-{i}"),
            Some(selection.clone()),
            Some(other_selection.clone()),
        );
        let stored = ws.workspace().unwrap();
        assert_eq!(stored.source_tags, selection);
        assert_eq!(stored.connection_tags, other_selection);
        assert_lists(&ws, case, other_case, "token request");
        let (_, again) = customer(
            &db,
            &org,
            &format!("token-{i}"),
            Some(other_selection.clone()),
            Some(selection.clone()),
        );
        assert_lists(&again, other_case, case, "second token request");
        // A request without selections leaves them as they are.
        let (_, unchanged) = customer(&db, &org, &format!("token-{i}"), None, None);
        assert_lists(&unchanged, other_case, case, "token request without tags");

        // Set by the organization: the scope already held sees the new selection at once.
        let workspace = org
            .update_workspace(
                updated.workspace_id,
                &WorkspaceUpdate {
                    source_tags: Some(selection.clone()),
                    connection_tags: Some(other_selection.clone()),
                    ..WorkspaceUpdate::default()
                },
            )
            .unwrap();
        assert_eq!(workspace.source_tags, selection);
        assert_eq!(workspace.connection_tags, other_selection);
        assert_lists(&updated_scope, case, other_case, "update_workspace");

        // The organization's filtered listing agrees.
        let filtered: Vec<String> = org
            .list_source_templates(Some(&selection))
            .unwrap()
            .into_iter()
            .map(|t| t.name.as_str().to_owned())
            .collect();
        let want: Vec<String> = case.expected.iter().map(|l| source_label(l)).collect();
        assert_eq!(filtered, want);
        let filtered: Vec<String> = org
            .list_connection_templates(Some(&selection))
            .unwrap()
            .into_iter()
            .map(|t| t.name.as_str().to_owned())
            .collect();
        let want: Vec<String> = case.expected.iter().map(|l| connection_label(l)).collect();
        assert_eq!(filtered, want);

        for t in ws.source_templates().unwrap() {
            assert_eq!(t.org_id, org.org_id());
            assert!(!other_ids.contains(&t.id));
        }
    }
}

#[test]
fn workspace_cannot_use_a_template_it_does_not_see_and_foreign_or_missing_ids_are_refused_alike() {
    let db = Db::new();
    let org = db.org("Acme");
    create_tags(&org, &["a", "b"]);
    let visible = org
        .create_source_template(plain_source_template("Visible", &["a"]))
        .unwrap();
    db.tick();
    let hidden = org
        .create_source_template(plain_source_template("Hidden", &["b"]))
        .unwrap();
    db.tick();
    let doomed = org
        .create_source_template(plain_source_template("Doomed", &["a"]))
        .unwrap();
    org.create_connection_template(plain_connection_template("Everyone", &[]))
        .unwrap();
    // Another organization's template, with a tag of the same name.
    let other = db.org("Other");
    create_tags(&other, &["a"]);
    let foreign = other
        .create_source_template(plain_source_template("Foreign", &["a"]))
        .unwrap();

    let (_, ws) = customer(
        &db,
        &org,
        "cust-1",
        Some(select(&["a"], TagMode::Any)),
        None,
    );
    assert_eq!(source_template_names(&ws), ["Visible", "Doomed"]);
    org.delete_source_template(doomed.id).unwrap();
    assert_eq!(source_template_names(&ws), ["Visible"]);

    let messages: Vec<String> = [hidden.id, foreign.id, doomed.id, SourceTemplateId::random()]
        .into_iter()
        .map(|id| {
            assert_not_available(ws.create_source_from_template(from_template(id, "x", json!({}))))
        })
        .collect();
    // One answer for all: nothing tells a foreign or deleted template from a missing one.
    assert!(messages.windows(2).all(|w| w[0] == w[1]), "{messages:?}");
    for message in &messages {
        assert!(!message.contains(&foreign.id.to_string()));
        assert!(!message.contains("Foreign") && !message.contains("Hidden"));
    }

    // Nothing was written, in this workspace or anywhere.
    assert_empty(&ws);
    for table in ["sources", "destinations", "connections"] {
        assert_eq!(raw_rows(&db, table), 0, "{table}");
    }

    // Control: the visible template works, and applies the connection template.
    let made = ws
        .create_source_from_template(from_template(visible.id, "mine", json!({})))
        .unwrap();
    assert_eq!(made.source.template_id, Some(visible.id));
    assert_eq!(made.connections.len(), 1);
}

/// The destination and connection for `template` in `made`.
fn pipeline_for(
    made: &SourceFromTemplate,
    template: ConnectionTemplateId,
) -> (&bulkhead::Destination, &bulkhead::Connection) {
    let i = made
        .destinations
        .iter()
        .position(|d| d.template_id == Some(template))
        .expect("a destination for the template");
    (&made.destinations[i], &made.connections[i])
}

#[test]
fn creating_a_source_applies_exactly_the_matching_connection_templates_and_reuses_their_destinations()
 {
    let db = Db::new();
    let org = db.org("Acme");
    create_tags(&org, &["prod", "eu", "us"]);
    let source_t = org
        .create_source_template(plain_source_template("Stripe", &[]))
        .unwrap();
    let prod = org
        .create_connection_template(connection_template(
            "Stripe to warehouse",
            "Warehouse",
            json!({"bucket": "acme-warehouse", "region": "eu-west-1"}),
            json!({"type": "object", "required": ["bucket"],
                   "properties": {"bucket": {"type": "string"}, "region": {"type": "string"}}}),
            cron("0 * * * *"),
            &["prod"],
        ))
        .unwrap();
    let eu = org
        .create_connection_template(connection_template(
            "Stripe to EU archive",
            "EU archive",
            json!({"bucket": "acme-eu"}),
            json!({"type": "object"}),
            Schedule::Manual,
            &["eu"],
        ))
        .unwrap();
    let us = org
        .create_connection_template(connection_template(
            "Stripe to US archive",
            "US archive",
            json!({"bucket": "acme-us"}),
            json!({"type": "object"}),
            cron("30 2 * * 1-5"),
            &["us"],
        ))
        .unwrap();

    let (_, ws) = customer(
        &db,
        &org,
        "cust-1",
        None,
        Some(select(&["prod", "eu"], TagMode::Any)),
    );
    let first = ws
        .create_source_from_template(from_template(source_t.id, "first", json!({})))
        .unwrap();
    assert_eq!(first.destinations.len(), 2);
    assert_eq!(first.connections.len(), 2);
    for (template, destination_name, config, schedule) in [
        (
            &prod,
            "Warehouse",
            json!({"bucket": "acme-warehouse", "region": "eu-west-1"}),
            cron("0 * * * *"),
        ),
        (
            &eu,
            "EU archive",
            json!({"bucket": "acme-eu"}),
            Schedule::Manual,
        ),
    ] {
        let (destination, connection) = pipeline_for(&first, template.id);
        assert_eq!(destination.name.as_str(), destination_name);
        assert_eq!(destination.connector.as_str(), "s3");
        assert_eq!(destination.config, json_config(config));
        assert_eq!(destination.workspace_id, ws.workspace_id());
        assert_eq!(connection.name, template.name);
        assert_eq!(connection.schedule, schedule);
        assert_eq!(connection.status, ConnectionStatus::Active);
        assert_eq!(connection.source_id, first.source.id);
        assert_eq!(connection.destination_id, destination.id);
        // What was returned is what is stored.
        assert_eq!(&ws.get_destination(destination.id).unwrap(), destination);
        assert_eq!(&ws.get_connection(connection.id).unwrap(), connection);
    }
    db.tick();

    // A second source: the same destinations, new connections.
    let second = ws
        .create_source_from_template(from_template(source_t.id, "second", json!({})))
        .unwrap();
    for template in [&prod, &eu] {
        let (d1, c1) = pipeline_for(&first, template.id);
        let (d2, c2) = pipeline_for(&second, template.id);
        assert_eq!(
            d1.id, d2.id,
            "the destination of `{}` is reused",
            template.name
        );
        assert_ne!(c1.id, c2.id);
        assert_eq!(c2.source_id, second.source.id);
        assert_eq!(c2.destination_id, d1.id);
    }
    let contents = Contents::read(&ws);
    assert_eq!(contents.sources.len(), 2);
    assert_eq!(contents.destinations.len(), 2);
    assert_eq!(contents.connections.len(), 4);
    for destination in &contents.destinations {
        let sources: BTreeSet<_> = contents
            .connections
            .iter()
            .filter(|c| c.destination_id == destination.id)
            .map(|c| c.source_id)
            .collect();
        assert_eq!(sources, [first.source.id, second.source.id].into());
    }

    // The selection changes: the next source gets the `us` template only.
    org.update_workspace(
        ws.workspace_id(),
        &WorkspaceUpdate {
            connection_tags: Some(select(&["us"], TagMode::Any)),
            ..WorkspaceUpdate::default()
        },
    )
    .unwrap();
    let third = ws
        .create_source_from_template(from_template(source_t.id, "third", json!({})))
        .unwrap();
    assert_eq!(third.connections.len(), 1);
    let (destination, connection) = pipeline_for(&third, us.id);
    assert_eq!(destination.name.as_str(), "US archive");
    assert_eq!(connection.schedule, cron("30 2 * * 1-5"));
    let contents = Contents::read(&ws);
    assert_eq!(contents.destinations.len(), 3);
    assert_eq!(contents.connections.len(), 5);

    // Destinations are reused within a workspace only.
    let (_, other_ws) = customer(
        &db,
        &org,
        "cust-2",
        None,
        Some(select(&["prod"], TagMode::Any)),
    );
    let elsewhere = other_ws
        .create_source_from_template(from_template(source_t.id, "elsewhere", json!({})))
        .unwrap();
    assert_eq!(elsewhere.destinations.len(), 1);
    let (destination, _) = pipeline_for(&elsewhere, prod.id);
    assert_ne!(destination.id, pipeline_for(&first, prod.id).0.id);
    assert_eq!(destination.workspace_id, other_ws.workspace_id());
    assert_eq!(Contents::read(&ws).destinations.len(), 3);

    // A selection matching no connection template makes the source alone.
    let (_, bare) = customer(
        &db,
        &org,
        "cust-3",
        None,
        Some(select(&["nothing"], TagMode::Any)),
    );
    let alone = bare
        .create_source_from_template(from_template(source_t.id, "alone", json!({})))
        .unwrap();
    assert!(alone.destinations.is_empty() && alone.connections.is_empty());
    assert!(all_pages(10, |p| bare.list_destinations(p)).is_empty());
}

/// Adds the trigger `name` that aborts every `event` (`BEFORE INSERT ON connections`).
fn inject_fault(db: &Db, name: &str, event: &str) {
    raw_connection(&db.path)
        .execute_batch(&format!(
            "CREATE TRIGGER {name} {event} BEGIN SELECT RAISE(ABORT, 'injected fault'); END;"
        ))
        .unwrap();
}

fn remove_fault(db: &Db, name: &str) {
    raw_connection(&db.path)
        .execute_batch(&format!("DROP TRIGGER {name};"))
        .unwrap();
}

#[test]
fn storage_failure_while_applying_connection_templates_leaves_no_source_destination_or_connection()
{
    let db = Db::new();
    let org = db.org("Acme");
    let source_t = org
        .create_source_template(plain_source_template("Stripe", &[]))
        .unwrap();
    for name in ["One", "Two"] {
        org.create_connection_template(plain_connection_template(name, &[]))
            .unwrap();
    }
    let (_, ws) = customer(&db, &org, "cust-1", None, None);
    let tables = ["sources", "destinations", "connections"];

    // Every connection insert fails: the source and the first destination are written by then.
    inject_fault(&db, "no_connections", "BEFORE INSERT ON connections");
    assert_injected_storage_error(ws.create_source_from_template(from_template(
        source_t.id,
        "s",
        json!({}),
    )));
    assert_empty(&ws);
    for table in tables {
        assert_eq!(raw_rows(&db, table), 0, "{table}");
    }
    remove_fault(&db, "no_connections");

    // Only the second connection fails, after the first one and both destinations are stored.
    inject_fault(
        &db,
        "second_connection",
        "AFTER INSERT ON connections WHEN (SELECT count(*) FROM connections \
         WHERE workspace_id = NEW.workspace_id AND source_id = NEW.source_id) >= 2",
    );
    assert_injected_storage_error(ws.create_source_from_template(from_template(
        source_t.id,
        "s",
        json!({}),
    )));
    assert_empty(&ws);
    for table in tables {
        assert_eq!(raw_rows(&db, table), 0, "{table}");
    }
    remove_fault(&db, "second_connection");

    // The engine keeps working, and a failure while reusing destinations changes nothing.
    let made = ws
        .create_source_from_template(from_template(source_t.id, "s", json!({})))
        .unwrap();
    assert_eq!(made.connections.len(), 2);
    let before = Contents::read(&ws);
    db.tick();
    inject_fault(&db, "no_connections", "BEFORE INSERT ON connections");
    assert_injected_storage_error(ws.create_source_from_template(from_template(
        source_t.id,
        "s2",
        json!({}),
    )));
    assert_eq!(Contents::read(&ws), before);
    assert_eq!(raw_rows(&db, "sources"), 1);
    assert_eq!(raw_rows(&db, "destinations"), 2);
    assert_eq!(raw_rows(&db, "connections"), 2);
    remove_fault(&db, "no_connections");
    ws.create_source_from_template(from_template(source_t.id, "s2", json!({})))
        .unwrap();
    assert_eq!(raw_rows(&db, "connections"), 4);
    assert_eq!(raw_rows(&db, "destinations"), 2);
}

#[test]
fn tags_are_created_listed_renamed_and_deleted_and_a_duplicate_is_a_conflict() {
    let db = Db::new();
    let org = db.org("Acme");
    let other = db.org("Other");

    let beta = org.create_tag(&tag("beta")).unwrap();
    assert_eq!(beta.name, tag("beta"));
    assert_eq!(beta.created_at, db.now());
    db.tick();
    org.create_tag(&tag("alpha")).unwrap();
    let names = |o: &OrgScope| -> Vec<String> {
        o.list_tags()
            .unwrap()
            .into_iter()
            .map(|t| t.name.as_str().to_owned())
            .collect()
    };
    assert_eq!(names(&org), ["alpha", "beta"], "listed by name");
    assert_eq!(org.list_tags().unwrap()[1], beta);

    assert_conflict(org.create_tag(&tag("beta")));
    assert_eq!(names(&org), ["alpha", "beta"]);
    // Tags belong to one organization: another may use the same names.
    assert!(names(&other).is_empty());
    other.create_tag(&tag("beta")).unwrap();
    assert_eq!(names(&other), ["beta"]);

    org.rename_tag(&tag("alpha"), &tag("gamma")).unwrap();
    assert_eq!(names(&org), ["beta", "gamma"]);
    assert_conflict(org.rename_tag(&tag("gamma"), &tag("beta")));
    assert_not_found(
        org.rename_tag(&tag("alpha"), &tag("delta")),
        ObjectKind::Tag,
        "alpha",
    );
    assert_eq!(names(&org), ["beta", "gamma"]);

    org.delete_tag(&tag("beta")).unwrap();
    assert_eq!(names(&org), ["gamma"]);
    assert_not_found(org.delete_tag(&tag("beta")), ObjectKind::Tag, "beta");
    // The other organization's tag of the same name is untouched.
    assert_eq!(names(&other), ["beta"]);
    assert_not_found(other.delete_tag(&tag("gamma")), ObjectKind::Tag, "gamma");
    assert_eq!(names(&org), ["gamma"]);

    // A deleted name can be made again.
    org.create_tag(&tag("beta")).unwrap();
    assert_eq!(names(&org), ["beta", "gamma"]);

    // A tag is 1 to 255 characters.
    assert_invalid("".parse::<bulkhead::Tag>(), "tag");
    assert_invalid("x".repeat(256).parse::<bulkhead::Tag>(), "tag");
    "x".repeat(255).parse::<bulkhead::Tag>().unwrap();
}

#[test]
fn template_with_a_tag_the_organization_does_not_have_is_refused_naming_tags() {
    let db = Db::new();
    let org = db.org("Acme");
    create_tags(&org, &["known"]);
    let other = db.org("Other");
    create_tags(&other, &["theirs"]);

    for unknown in [&["missing"][..], &["known", "missing"], &["theirs"]] {
        assert_invalid(
            org.create_source_template(plain_source_template("S", unknown)),
            "tags",
        );
        assert_invalid(
            org.create_connection_template(plain_connection_template("C", unknown)),
            "tags",
        );
    }
    assert!(org.list_source_templates(None).unwrap().is_empty());
    assert!(org.list_connection_templates(None).unwrap().is_empty());

    // On update too; the template is unchanged.
    let s = org
        .create_source_template(plain_source_template("S", &["known"]))
        .unwrap();
    let c = org
        .create_connection_template(plain_connection_template("C", &["known"]))
        .unwrap();
    assert_invalid(
        org.update_source_template(
            s.id,
            &SourceTemplateUpdate {
                tags: Some(tags(&["known", "missing"])),
                ..SourceTemplateUpdate::default()
            },
        ),
        "tags",
    );
    assert_invalid(
        org.update_connection_template(
            c.id,
            &ConnectionTemplateUpdate {
                tags: Some(tags(&["theirs"])),
                ..ConnectionTemplateUpdate::default()
            },
        ),
        "tags",
    );
    assert_eq!(org.get_source_template(s.id).unwrap(), s);
    assert_eq!(org.get_connection_template(c.id).unwrap(), c);

    // A deleted tag is unknown from then on.
    org.delete_tag(&tag("known")).unwrap();
    assert_invalid(
        org.create_source_template(plain_source_template("S2", &["known"])),
        "tags",
    );
}

#[test]
fn renaming_a_tag_renames_it_on_templates_and_in_workspace_selections() {
    let db = Db::new();
    let org = db.org("Acme");
    create_tags(&org, &["old", "keep"]);
    let both = org
        .create_source_template(plain_source_template("Both", &["old", "keep"]))
        .unwrap();
    db.tick();
    let only = org
        .create_source_template(plain_source_template("Only", &["old"]))
        .unwrap();
    let conn = org
        .create_connection_template(plain_connection_template("Conn", &["old"]))
        .unwrap();
    let (_, ws) = customer(
        &db,
        &org,
        "cust-1",
        Some(select(&["old"], TagMode::Any)),
        Some(select(&["old"], TagMode::All)),
    );
    // Another organization with a tag of the same name, selected by its workspace.
    let other = db.org("Other");
    create_tags(&other, &["old"]);
    other
        .create_source_template(plain_source_template("Theirs", &["old"]))
        .unwrap();
    let (_, theirs) = customer(
        &db,
        &other,
        "cust-1",
        Some(select(&["old"], TagMode::Any)),
        None,
    );

    org.rename_tag(&tag("old"), &tag("new")).unwrap();

    assert_eq!(
        org.get_source_template(both.id).unwrap().tags,
        tags(&["keep", "new"])
    );
    assert_eq!(
        org.get_source_template(only.id).unwrap().tags,
        tags(&["new"])
    );
    assert_eq!(
        org.get_connection_template(conn.id).unwrap().tags,
        tags(&["new"])
    );
    let workspace = ws.workspace().unwrap();
    assert_eq!(workspace.source_tags, select(&["new"], TagMode::Any));
    assert_eq!(workspace.connection_tags, select(&["new"], TagMode::All));
    // The workspace sees what it saw, and uses it.
    assert_eq!(source_template_names(&ws), ["Both", "Only"]);
    assert_eq!(connection_template_names(&ws), ["Conn"]);
    let made = ws
        .create_source_from_template(from_template(only.id, "s", json!({})))
        .unwrap();
    assert_eq!(made.connections.len(), 1);

    // The other organization's tag, templates and selection are untouched.
    assert_eq!(
        other
            .list_tags()
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect::<Vec<_>>(),
        [tag("old")]
    );
    assert_eq!(
        theirs.workspace().unwrap().source_tags,
        select(&["old"], TagMode::Any)
    );
    assert_eq!(source_template_names(&theirs), ["Theirs"]);
}

#[test]
fn deleting_a_tag_detaches_it_from_templates_and_never_widens_what_a_workspace_sees() {
    let db = Db::new();
    let org = db.org("Acme");
    create_tags(&org, &["gone", "other"]);
    let gone_only = org
        .create_source_template(plain_source_template("Gone only", &["gone"]))
        .unwrap();
    db.tick();
    let with_other = org
        .create_source_template(plain_source_template("Gone and other", &["gone", "other"]))
        .unwrap();
    db.tick();
    org.create_source_template(plain_source_template("Other", &["other"]))
        .unwrap();
    org.create_source_template(plain_source_template("Untagged", &[]))
        .unwrap();
    let conn_gone = org
        .create_connection_template(plain_connection_template("Conn gone", &["gone"]))
        .unwrap();
    org.create_connection_template(plain_connection_template("Conn other", &["other"]))
        .unwrap();
    org.create_connection_template(plain_connection_template("Conn untagged", &[]))
        .unwrap();

    let only_gone = select(&["gone"], TagMode::Any);
    let (_, any_ws) = customer(
        &db,
        &org,
        "any",
        Some(only_gone.clone()),
        Some(only_gone.clone()),
    );
    let (_, all_ws) = customer(
        &db,
        &org,
        "all",
        Some(select(&["gone", "other"], TagMode::All)),
        Some(select(&["gone", "other"], TagMode::All)),
    );
    let (_, open_ws) = customer(&db, &org, "open", None, None);
    assert_eq!(
        source_template_names(&any_ws),
        ["Gone only", "Gone and other"]
    );
    assert_eq!(connection_template_names(&any_ws), ["Conn gone"]);
    assert_eq!(source_template_names(&all_ws), ["Gone and other"]);

    org.delete_tag(&tag("gone")).unwrap();

    assert!(
        org.get_source_template(gone_only.id)
            .unwrap()
            .tags
            .is_empty()
    );
    assert_eq!(
        org.get_source_template(with_other.id).unwrap().tags,
        tags(&["other"])
    );
    assert!(
        org.get_connection_template(conn_gone.id)
            .unwrap()
            .tags
            .is_empty()
    );
    // The selection keeps the name, which now matches nothing.
    assert_eq!(any_ws.workspace().unwrap().source_tags, only_gone);
    for ws in [&any_ws, &all_ws] {
        assert!(source_template_names(ws).is_empty(), "never widened");
        assert!(connection_template_names(ws).is_empty(), "never widened");
        assert_not_available(ws.create_source_from_template(from_template(
            with_other.id,
            "s",
            json!({}),
        )));
    }
    assert_not_available(any_ws.create_source_from_template(from_template(
        gone_only.id,
        "s",
        json!({}),
    )));
    assert_eq!(source_template_names(&open_ws).len(), 4);
    assert_eq!(connection_template_names(&open_ws).len(), 3);

    // A source made where only the deleted tag selected connection templates gets none.
    org.update_workspace(
        any_ws.workspace_id(),
        &WorkspaceUpdate {
            source_tags: Some(TagSelection::default()),
            ..WorkspaceUpdate::default()
        },
    )
    .unwrap();
    let made = any_ws
        .create_source_from_template(from_template(gone_only.id, "s", json!({})))
        .unwrap();
    assert!(made.destinations.is_empty() && made.connections.is_empty());
}

fn stripe_spec() -> serde_json::Value {
    json!({
        "type": "object",
        "required": ["account_id", "api_key"],
        "properties": {
            "account_id": {"type": "string"},
            "api_key": {"type": "string", "airbyte_secret": true},
            "start_date": {"type": "string"},
            "lookback_days": {"type": "integer"},
            "credentials": {
                "type": "object",
                "required": ["client_id"],
                "properties": {
                    "client_id": {"type": "string"},
                    "client_secret": {"type": "string", "airbyte_secret": true}
                }
            }
        }
    })
}

#[test]
fn source_template_crud_round_trips_and_stays_in_its_organization() {
    let db = Db::new();
    let org = db.org("Acme");
    create_tags(&org, &["a", "b"]);
    let created = org
        .create_source_template(source_template(
            "Stripe",
            json!({"start_date": "2024-01-01"}),
            stripe_spec(),
            &["a"],
        ))
        .unwrap();
    assert_eq!(created.name.as_str(), "Stripe");
    assert_eq!(created.org_id, org.org_id());
    assert_eq!(created.connector.as_str(), "stripe");
    assert_eq!(
        created.default_config,
        json_config(json!({"start_date": "2024-01-01"}))
    );
    assert_eq!(created.spec, spec(stripe_spec()));
    assert_eq!(created.tags, tags(&["a"]));
    assert_eq!(
        (created.created_at, created.updated_at),
        (db.now(), db.now())
    );
    assert_eq!(org.get_source_template(created.id).unwrap(), created);
    assert_eq!(
        org.list_source_templates(None).unwrap(),
        std::slice::from_ref(&created)
    );
    db.tick();
    let second = org
        .create_source_template(plain_source_template("Second", &[]))
        .unwrap();
    assert_eq!(
        org.list_source_templates(None).unwrap(),
        [created.clone(), second.clone()],
        "oldest first"
    );
    db.tick();

    // A partial update keeps the other fields.
    let renamed = org
        .update_source_template(
            created.id,
            &SourceTemplateUpdate {
                name: Some("Stripe v2".parse().unwrap()),
                ..SourceTemplateUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(renamed.name.as_str(), "Stripe v2");
    assert_eq!(renamed.default_config, created.default_config);
    assert_eq!(renamed.spec, created.spec);
    assert_eq!(renamed.tags, created.tags);
    assert_eq!(renamed.created_at, created.created_at);
    assert_eq!(renamed.updated_at, db.now());
    db.tick();
    let new_spec = json!({"type": "object", "required": ["account_id"],
                          "properties": {"account_id": {"type": "string"}}});
    let updated = org
        .update_source_template(
            created.id,
            &SourceTemplateUpdate {
                name: None,
                default_config: Some(json_config(json!({"start_date": "2025-06-01"}))),
                spec: Some(spec(new_spec.clone())),
                tags: Some(tags(&["a", "b"])),
            },
        )
        .unwrap();
    assert_eq!(updated.name.as_str(), "Stripe v2");
    assert_eq!(
        updated.default_config,
        json_config(json!({"start_date": "2025-06-01"}))
    );
    assert_eq!(updated.spec, spec(new_spec));
    assert_eq!(updated.tags, tags(&["a", "b"]));
    assert_eq!(org.get_source_template(created.id).unwrap(), updated);

    // New sources use the new values.
    let (_, ws) = customer(
        &db,
        &org,
        "cust-1",
        Some(select(&["b"], TagMode::Any)),
        None,
    );
    let made = ws
        .create_source_from_template(from_template(
            created.id,
            "s",
            json!({"account_id": "acct_1"}),
        ))
        .unwrap();
    assert_eq!(
        made.source.config,
        json_config(json!({"account_id": "acct_1", "start_date": "2025-06-01"}))
    );

    // Another organization reaches none of it.
    let other = db.org("Other");
    assert!(other.list_source_templates(None).unwrap().is_empty());
    assert_not_found(
        other.get_source_template(created.id),
        ObjectKind::SourceTemplate,
        created.id,
    );
    assert_not_found(
        other.update_source_template(
            created.id,
            &SourceTemplateUpdate {
                name: Some("hijacked".parse().unwrap()),
                ..SourceTemplateUpdate::default()
            },
        ),
        ObjectKind::SourceTemplate,
        created.id,
    );
    assert_not_found(
        other.delete_source_template(created.id),
        ObjectKind::SourceTemplate,
        created.id,
    );
    assert_eq!(org.get_source_template(created.id).unwrap(), updated);

    // Delete: gone from get and list; the source made from it stays.
    org.delete_source_template(created.id).unwrap();
    assert_not_found(
        org.get_source_template(created.id),
        ObjectKind::SourceTemplate,
        created.id,
    );
    assert_eq!(org.list_source_templates(None).unwrap(), [second]);
    assert_not_found(
        org.delete_source_template(created.id),
        ObjectKind::SourceTemplate,
        created.id,
    );
    assert_not_found(
        org.update_source_template(created.id, &SourceTemplateUpdate::default()),
        ObjectKind::SourceTemplate,
        created.id,
    );
    assert_eq!(ws.get_source(made.source.id).unwrap(), made.source);
    let random = SourceTemplateId::random();
    assert_not_found(
        org.get_source_template(random),
        ObjectKind::SourceTemplate,
        random,
    );
}

fn warehouse_spec() -> serde_json::Value {
    json!({
        "type": "object",
        "required": ["bucket"],
        "properties": {
            "bucket": {"type": "string"},
            "region": {"type": "string"},
            "part_size_mb": {"type": "integer"}
        }
    })
}

#[test]
fn connection_template_crud_round_trips_and_stays_in_its_organization() {
    let db = Db::new();
    let org = db.org("Acme");
    create_tags(&org, &["a"]);
    let created = org
        .create_connection_template(connection_template(
            "To warehouse",
            "Warehouse",
            json!({"bucket": "acme"}),
            warehouse_spec(),
            cron("*/15 * * * *"),
            &["a"],
        ))
        .unwrap();
    assert_eq!(created.name.as_str(), "To warehouse");
    assert_eq!(created.org_id, org.org_id());
    assert_eq!(created.destination_name.as_str(), "Warehouse");
    assert_eq!(created.destination_connector.as_str(), "s3");
    assert_eq!(
        created.destination_config,
        json_config(json!({"bucket": "acme"}))
    );
    assert_eq!(created.destination_spec, spec(warehouse_spec()));
    assert_eq!(created.schedule, cron("*/15 * * * *"));
    assert_eq!(created.tags, tags(&["a"]));
    assert_eq!(org.get_connection_template(created.id).unwrap(), created);
    assert_eq!(
        org.list_connection_templates(None).unwrap(),
        std::slice::from_ref(&created)
    );

    let (_, ws) = customer(&db, &org, "cust-1", None, None);
    let source_t = org
        .create_source_template(plain_source_template("Stripe", &[]))
        .unwrap();
    let made = ws
        .create_source_from_template(from_template(source_t.id, "s1", json!({})))
        .unwrap();
    db.tick();

    let partial = org
        .update_connection_template(
            created.id,
            &ConnectionTemplateUpdate {
                schedule: Some(Schedule::Manual),
                ..ConnectionTemplateUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(partial.schedule, Schedule::Manual);
    assert_eq!(partial.name, created.name);
    assert_eq!(partial.destination_config, created.destination_config);
    assert_eq!(partial.updated_at, db.now());
    assert_eq!(partial.created_at, created.created_at);
    db.tick();
    let updated = org
        .update_connection_template(
            created.id,
            &ConnectionTemplateUpdate {
                name: Some("To lake".parse().unwrap()),
                destination_name: Some("Lake".parse().unwrap()),
                destination_config: Some(json_config(
                    json!({"bucket": "acme-lake", "part_size_mb": 64}),
                )),
                destination_spec: None,
                schedule: Some(cron("0 3 * * *")),
                tags: Some(tags(&[])),
            },
        )
        .unwrap();
    assert_eq!(updated.name.as_str(), "To lake");
    assert_eq!(updated.destination_name.as_str(), "Lake");
    assert_eq!(
        updated.destination_config,
        json_config(json!({"bucket": "acme-lake", "part_size_mb": 64}))
    );
    assert_eq!(updated.destination_spec, created.destination_spec);
    assert_eq!(updated.schedule, cron("0 3 * * *"));
    assert!(updated.tags.is_empty());
    assert_eq!(org.get_connection_template(created.id).unwrap(), updated);

    // What was made from it stays as it was; a new workspace gets the new values.
    let (destination, connection) = pipeline_for(&made, created.id);
    assert_eq!(&ws.get_destination(destination.id).unwrap(), destination);
    assert_eq!(&ws.get_connection(connection.id).unwrap(), connection);
    let (_, fresh) = customer(&db, &org, "cust-2", None, None);
    let fresh_made = fresh
        .create_source_from_template(from_template(source_t.id, "s", json!({})))
        .unwrap();
    let (d, c) = pipeline_for(&fresh_made, created.id);
    assert_eq!(d.name.as_str(), "Lake");
    assert_eq!(d.config, updated.destination_config);
    assert_eq!(c.name.as_str(), "To lake");
    assert_eq!(c.schedule, cron("0 3 * * *"));

    // Another organization reaches none of it.
    let other = db.org("Other");
    assert!(other.list_connection_templates(None).unwrap().is_empty());
    let kind = ObjectKind::ConnectionTemplate;
    assert_not_found(other.get_connection_template(created.id), kind, created.id);
    assert_not_found(
        other.update_connection_template(
            created.id,
            &ConnectionTemplateUpdate {
                schedule: Some(Schedule::Manual),
                ..ConnectionTemplateUpdate::default()
            },
        ),
        kind,
        created.id,
    );
    assert_not_found(
        other.delete_connection_template(created.id),
        kind,
        created.id,
    );
    assert_eq!(org.get_connection_template(created.id).unwrap(), updated);

    // Delete: gone; what was made from it stays; new sources no longer get it.
    org.delete_connection_template(created.id).unwrap();
    assert_not_found(org.get_connection_template(created.id), kind, created.id);
    assert!(org.list_connection_templates(None).unwrap().is_empty());
    assert_not_found(org.delete_connection_template(created.id), kind, created.id);
    assert!(ws.connection_templates().unwrap().is_empty());
    assert_eq!(&ws.get_destination(destination.id).unwrap(), destination);
    assert_eq!(&ws.get_connection(connection.id).unwrap(), connection);
    let later = ws
        .create_source_from_template(from_template(source_t.id, "s2", json!({})))
        .unwrap();
    assert!(later.connections.is_empty());
    let random = ConnectionTemplateId::random();
    assert_not_found(org.get_connection_template(random), kind, random);
}

#[test]
fn invalid_cron_schedule_is_refused_naming_schedule() {
    for bad in [
        "61 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 8",
        "* * * *",
        "* * * * * *",
        "every hour",
        "*/0 * * * *",
        "* * * JAN *",
        "",
    ] {
        assert_invalid(bad.parse::<CronExpr>(), "schedule");
        assert_invalid(Schedule::parse(bad), "schedule");
    }
    for good in ["0 * * * *", "*/15 0-6 1,15 * 1-5", "30 2 * * 7"] {
        let parsed: CronExpr = good.parse().unwrap();
        assert_eq!(parsed.as_str(), good);
    }
    // A schedule round-trips through a stored connection template.
    let db = Db::new();
    let org = db.org("Acme");
    let mut request = plain_connection_template("C", &[]);
    request.schedule = cron("*/15 0-6 1,15 * 1-5");
    let t = org.create_connection_template(request).unwrap();
    assert_eq!(
        org.get_connection_template(t.id).unwrap().schedule,
        cron("*/15 0-6 1,15 * 1-5")
    );
}

#[test]
fn connection_template_whose_destination_config_violates_its_spec_is_refused_and_not_stored() {
    let db = Db::new();
    let org = db.org("Acme");
    for (config, field) in [
        (json!({"region": "eu"}), "config at `/bucket`"),
        (json!({"bucket": 42}), "config at `/bucket`"),
        (
            json!({"bucket": "b", "part_size_mb": 1.5}),
            "config at `/part_size_mb`",
        ),
        (
            json!({"bucket": "b", "part_size_mb": "64"}),
            "config at `/part_size_mb`",
        ),
    ] {
        assert_invalid(
            org.create_connection_template(connection_template(
                "C",
                "D",
                config,
                warehouse_spec(),
                cron("0 * * * *"),
                &[],
            )),
            field,
        );
    }
    assert!(org.list_connection_templates(None).unwrap().is_empty());

    // An update that breaks the spec, by config or by a new spec, is refused too.
    let t = org
        .create_connection_template(connection_template(
            "C",
            "D",
            json!({"bucket": "b"}),
            warehouse_spec(),
            cron("0 * * * *"),
            &[],
        ))
        .unwrap();
    assert_invalid(
        org.update_connection_template(
            t.id,
            &ConnectionTemplateUpdate {
                destination_config: Some(json_config(json!({"part_size_mb": 8}))),
                ..ConnectionTemplateUpdate::default()
            },
        ),
        "config at `/bucket`",
    );
    assert_invalid(
        org.update_connection_template(
            t.id,
            &ConnectionTemplateUpdate {
                destination_spec: Some(spec(json!({"type": "object", "required": ["prefix"],
                    "properties": {"prefix": {"type": "string"}}}))),
                ..ConnectionTemplateUpdate::default()
            },
        ),
        "config at `/prefix`",
    );
    assert_eq!(org.get_connection_template(t.id).unwrap(), t);
}

/// A workspace seeing one source template with [`stripe_spec`] and one connection template.
fn stripe_setup(db: &Db) -> (OrgScope, SourceTemplateId, WorkspaceScope) {
    let org = db.org("Acme");
    let t = org
        .create_source_template(source_template(
            "Stripe",
            json!({"start_date": "2024-01-01"}),
            stripe_spec(),
            &[],
        ))
        .unwrap();
    org.create_connection_template(plain_connection_template("To warehouse", &[]))
        .unwrap();
    let (_, ws) = customer(db, &org, "cust-1", None, None);
    (org, t.id, ws)
}

/// Asserts `result` is refused for the config field at `pointer`, with the message format
/// hosts show, and returns the message.
#[track_caller]
fn assert_config_refused<T: fmt::Debug>(result: Result<T>, pointer: &str, reason: &str) -> String {
    let err = result.expect_err("an invalid config must be refused");
    let message = err.to_string();
    assert_eq!(message, format!("invalid config at `{pointer}`: {reason}"));
    assert_invalid::<()>(Err(err), &format!("config at `{pointer}`"));
    message
}

#[test]
fn config_missing_a_required_field_is_refused_naming_its_pointer_and_nothing_is_written() {
    let db = Db::new();
    let (_, t, ws) = stripe_setup(&db);
    assert_config_refused(
        ws.create_source_from_template(from_template(t, "s", json!({"account_id": "acct_1"}))),
        "/api_key",
        "is required",
    );
    assert_config_refused(
        ws.create_source_from_template(from_template(t, "s", json!({"api_key": "sk_1"}))),
        "/account_id",
        "is required",
    );
    assert_empty(&ws);
    for table in ["sources", "destinations", "connections"] {
        assert_eq!(raw_rows(&db, table), 0, "{table}");
    }
    // Required fields may come from the template's default.
    let org = db.org("Defaults");
    let with_default = org
        .create_source_template(source_template(
            "Stripe",
            json!({"account_id": "acct_default"}),
            stripe_spec(),
            &[],
        ))
        .unwrap();
    let (_, other) = customer(&db, &org, "cust-1", None, None);
    let made = other
        .create_source_from_template(from_template(
            with_default.id,
            "s",
            json!({"api_key": "sk_1"}),
        ))
        .unwrap();
    assert_eq!(made.source.config.as_map()["account_id"], "acct_default");
}

#[test]
fn config_field_of_the_wrong_type_is_refused_naming_its_pointer_without_echoing_the_value() {
    let db = Db::new();
    let (_, t, ws) = stripe_setup(&db);
    let message = assert_config_refused(
        ws.create_source_from_template(from_template(
            t,
            "s",
            json!({"account_id": "acct_1", "api_key": 987_654_321_012_u64}),
        )),
        "/api_key",
        "is a number; the spec says string",
    );
    assert!(!message.contains("987654321012"));
    assert_config_refused(
        ws.create_source_from_template(from_template(
            t,
            "s",
            json!({"account_id": "acct_1", "api_key": "sk", "lookback_days": "thirty"}),
        )),
        "/lookback_days",
        "is a string; the spec says integer",
    );
    // A default overridden by a value of the wrong type is refused too.
    assert_config_refused(
        ws.create_source_from_template(from_template(
            t,
            "s",
            json!({"account_id": "acct_1", "api_key": "sk", "start_date": false}),
        )),
        "/start_date",
        "is a boolean; the spec says string",
    );
    assert_empty(&ws);
    assert_eq!(raw_rows(&db, "sources"), 0);
}

#[test]
fn nested_config_field_is_named_by_its_full_pointer() {
    let db = Db::new();
    let (_, t, ws) = stripe_setup(&db);
    let base = json!({"account_id": "acct_1", "api_key": "sk"});
    let with = |credentials: serde_json::Value| {
        let mut config = base.clone();
        config["credentials"] = credentials;
        config
    };
    assert_config_refused(
        ws.create_source_from_template(from_template(t, "s", with(json!({"client_secret": "x"})))),
        "/credentials/client_id",
        "is required",
    );
    assert_config_refused(
        ws.create_source_from_template(from_template(t, "s", with(json!({"client_id": 7})))),
        "/credentials/client_id",
        "is a number; the spec says string",
    );
    assert_config_refused(
        ws.create_source_from_template(from_template(
            t,
            "s",
            with(json!({"client_id": "c", "client_secret": ["not", "a", "string"]})),
        )),
        "/credentials/client_secret",
        "is an array; the spec says string",
    );
    assert_config_refused(
        ws.create_source_from_template(from_template(t, "s", with(json!("flat")))),
        "/credentials",
        "is a string; the spec says object",
    );
    assert_empty(&ws);

    // Updates are checked the same way, and a refused update changes nothing.
    let made = ws
        .create_source_from_template(from_template(t, "s", with(json!({"client_id": "c"}))))
        .unwrap();
    let before = Contents::read(&ws);
    let update = |config: serde_json::Value| ConnectorUpdate {
        name: Some("renamed".parse().unwrap()),
        config: Some(json_config(config)),
    };
    assert_config_refused(
        ws.update_source(made.source.id, &update(with(json!({"client_id": false})))),
        "/credentials/client_id",
        "is a boolean; the spec says string",
    );
    assert_config_refused(
        ws.update_source(made.source.id, &update(json!({"api_key": "sk"}))),
        "/account_id",
        "is required",
    );
    assert_eq!(Contents::read(&ws), before);
}

#[test]
fn sources_made_from_templates_are_listed_with_their_template() {
    let db = Db::new();
    let (org, t, ws) = stripe_setup(&db);
    let made = ws
        .create_source_from_template(from_template(
            t,
            "mine",
            json!({"account_id": "acct_1", "api_key": "sk_1"}),
        ))
        .unwrap();
    let listed = all_pages(10, |p| ws.list_sources(p));
    assert_eq!(listed, std::slice::from_ref(&made.source));
    assert_eq!(listed[0].template_id, Some(t));
    assert_eq!(listed[0].connector.as_str(), "stripe");
    assert_eq!(listed[0].name.as_str(), "mine");
    let by_template: BTreeMap<_, _> = all_pages(10, |p| ws.list_destinations(p))
        .into_iter()
        .map(|d| (d.template_id, d.id))
        .collect();
    assert_eq!(by_template.len(), 1);
    // Raw sources and destinations are the organization's alone.
    let denied = ws.create_source(common::new_source("raw")).unwrap_err();
    assert!(
        matches!(denied, Error::PermissionDenied { .. }),
        "{denied:?}"
    );
    let full = org.workspace(ws.workspace_id()).unwrap();
    let raw = full.create_source(common::new_source("raw")).unwrap();
    assert_eq!(raw.template_id, None);
    assert_eq!(ws.list_sources(&Page::first(10)).unwrap().items.len(), 2);
    let _: ConnectorConfig = raw.config;
}
