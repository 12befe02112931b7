//! The organization's catalog over real HTTP: `/api/v1/integrations/templates/...` (source
//! templates, connection templates, their tags, and the tags themselves), which credential
//! each route takes, and another organization's ids answered like missing ones.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{SECRET, Server, problem};

const T: &str = "/api/v1/integrations/templates";

/// The names of a list's items, sorted: templates are listed oldest first, and two made in
/// one millisecond have no defined order.
fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn tags_of(template: &Value) -> Vec<String> {
    template["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

/// A source template with a secret default, tagged `production` and `premium`.
fn hubspot() -> Value {
    json!({
        "name": "HubSpot",
        "connector_name": "hubspot",
        "partial_default_config": {"api_key": SECRET, "region": "eu"},
        "user_config_spec": {
            "type": "object",
            "properties": {
                "api_key": {"type": "string", "airbyte_secret": true},
                "region": {"type": "string"}
            }
        },
        "tags": ["production", "premium"],
    })
}

fn warehouse() -> Value {
    json!({
        "destination_name": "Lake",
        "destination_connector": "s3",
        "destination_config": {"bucket": "lake", "secret_key": SECRET},
        "destination_spec": {
            "type": "object",
            "properties": {"secret_key": {"type": "string", "airbyte_secret": true}}
        },
        "cron_expression": "30 2 * * *",
        "tags": ["premium"],
    })
}

/// POSTs `body` to `path` under the org key; the answer, which must be 200.
async fn create(server: &Server, path: &str, body: Value) -> Value {
    let (status, made) = server
        .send(Method::POST, path, &server.org_key, Some(body))
        .await;
    assert_eq!(status, 200, "{made}");
    made
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_templates_create_get_patch_delete() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let made = create(&server, &format!("{T}/sources"), hubspot()).await;
    assert_eq!(made["name"], "HubSpot");
    assert_eq!(made["connector_name"], "hubspot");
    assert_eq!(
        made["partial_default_config"]["api_key"],
        bulkhead::SECRET_MASK
    );
    assert_eq!(made["partial_default_config"]["region"], "eu");
    assert_eq!(
        made["user_config_spec"]["properties"]["api_key"]["airbyte_secret"],
        true
    );
    assert_eq!(tags_of(&made), ["premium", "production"]);
    assert_eq!(made["mode"], "REPLICATION");
    assert_eq!(made["customization"], Value::Null);
    let id = made["id"].as_str().unwrap().to_owned();
    let path = format!("{T}/sources/{id}");

    let (status, got) = server.send(Method::GET, &path, &key, None).await;
    assert_eq!(status, 200);
    assert_eq!(got, made);

    // The name defaults to the connector; the mode `REPLICATION` is accepted.
    let bare = create(
        &server,
        &format!("{T}/sources"),
        json!({"actor_definition_id": "zendesk", "mode": "REPLICATION", "partial_default_config": {}}),
    )
    .await;
    assert_eq!(bare["name"], "zendesk");
    assert_eq!(bare["connector_name"], "zendesk");

    let (status, patched) = server
        .send(
            Method::PATCH,
            &path,
            &key,
            Some(json!({
                "name": "HubSpot EU",
                "partial_default_config": {"api_key": bulkhead::SECRET_MASK, "region": "us"},
                "propagate": false,
            })),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "HubSpot EU");
    assert_eq!(patched["partial_default_config"]["region"], "us");
    assert_eq!(tags_of(&patched), ["premium", "production"]);
    // The masked secret kept its stored value.
    let org = server.engine.authenticate_org(&key).unwrap();
    let (token, ws) = server.customer("cust_hub", None).await;
    let _ = token;
    let scope = org.workspace(ws.parse().unwrap()).unwrap();
    let source = scope
        .create_source_from_template(bulkhead::NewSourceFromTemplate {
            template_id: id.parse().unwrap(),
            name: "mine".parse().unwrap(),
            config: bulkhead::ConnectorConfig::new(json!({})).unwrap(),
        })
        .unwrap();
    let revealed = org
        .reveal_source_config(ws.parse().unwrap(), source.source.id)
        .unwrap();
    assert_eq!(revealed.as_map()["api_key"], SECRET);

    let (status, deleted) = server.send(Method::DELETE, &path, &key, None).await;
    assert_eq!(status, 200);
    assert_eq!(deleted["id"], id.as_str());
    assert!(deleted["deleted_at"].is_string());
    for method in [Method::GET, Method::DELETE] {
        let (status, ct, text) = server.send_raw(method, &path, &key, None).await;
        assert_eq!(status, 404);
        problem(404, &ct, &text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_template_list_filters_by_tags_with_all_by_default() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    create(&server, &format!("{T}/sources"), hubspot()).await;
    let list = |query: &'static str| {
        let server = &server;
        let key = key.clone();
        async move {
            let (status, body) = server
                .send(Method::GET, &format!("{T}/sources{query}"), &key, None)
                .await;
            assert_eq!(status, 200, "{query}: {body}");
            names(&body)
        }
    };
    assert_eq!(list("").await, ["HubSpot", "Salesforce", "Stripe"]);
    assert_eq!(list("?tags=production&tags=premium").await, ["HubSpot"]);
    assert_eq!(
        list("?tags=production&tags=premium&tags_mode=any").await,
        ["HubSpot", "Salesforce", "Stripe"]
    );
    assert_eq!(
        list("?tags=premium&tags_mode=all").await,
        ["HubSpot", "Salesforce"]
    );
    assert_eq!(
        list("?tags=nothing-has-it&use_global=false").await,
        Vec::<String>::new()
    );
    for (query, field) in [
        ("?tags_mode=some", "tags_mode"),
        ("?tags_mode=any&tags_mode=all", "tags_mode"),
        ("?use_global=true", "use_global"),
        ("?tag=production", "tag"),
        ("?tags=", "tags"),
        ("?limit=5", "limit"),
    ] {
        let (status, ct, text) = server
            .send_raw(Method::GET, &format!("{T}/sources{query}"), &key, None)
            .await;
        assert_eq!(status, 400, "{query}: {text}");
        assert_eq!(problem(400, &ct, &text)["field"], field, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_tags_are_added_and_removed_on_both_kinds() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let source = create(&server, &format!("{T}/sources"), hubspot()).await;
    let connection = create(&server, &format!("{T}/connections"), warehouse()).await;
    for (kind, made, before) in [
        ("sources", &source, vec!["premium", "production"]),
        ("connections", &connection, vec!["premium"]),
    ] {
        let path = format!("{T}/{kind}/{}", made["id"].as_str().unwrap());
        create(
            &server,
            &format!("{T}/tags"),
            json!({"name": format!("{kind}-extra")}),
        )
        .await;
        let extra = format!("{kind}-extra");
        let (status, added) = server
            .send(
                Method::POST,
                &format!("{path}/tags"),
                &key,
                Some(json!({"tag": extra})),
            )
            .await;
        assert_eq!(status, 200, "{added}");
        let mut expected: Vec<String> = before.iter().map(|t| (*t).to_owned()).collect();
        expected.push(extra.clone());
        expected.sort();
        assert_eq!(tags_of(&added), expected);
        // Again: nothing changes.
        let (status, again) = server
            .send(
                Method::POST,
                &format!("{path}/tags"),
                &key,
                Some(json!({"tag": extra})),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(tags_of(&again), expected);
        // A tag the organization does not have is named in a 400.
        let (status, ct, text) = server
            .send_raw(
                Method::POST,
                &format!("{path}/tags"),
                &key,
                Some(json!({"tag": "never-made"})),
            )
            .await;
        assert_eq!(status, 400, "{text}");
        assert_eq!(problem(400, &ct, &text)["field"], "tag");
        let (status, ct, text) = server
            .send_raw(Method::POST, &format!("{path}/tags"), &key, Some(json!({})))
            .await;
        assert_eq!(status, 400);
        assert_eq!(problem(400, &ct, &text)["field"], "tag");

        let (status, removed) = server
            .send(Method::DELETE, &format!("{path}/tags/{extra}"), &key, None)
            .await;
        assert_eq!(status, 200, "{removed}");
        assert_eq!(tags_of(&removed), before);
        let (status, ct, text) = server
            .send_raw(Method::DELETE, &format!("{path}/tags/{extra}"), &key, None)
            .await;
        assert_eq!(status, 404, "{text}");
        problem(404, &ct, &text);
        let (_, got) = server.send(Method::GET, &path, &key, None).await;
        assert_eq!(tags_of(&got), before);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_templates_create_get_patch_delete() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let made = create(&server, &format!("{T}/connections"), warehouse()).await;
    assert_eq!(made["name"], "Lake");
    assert_eq!(made["destination_name"], "Lake");
    assert_eq!(made["destination_connector"], "s3");
    assert_eq!(made["destination_config"]["bucket"], "lake");
    assert_eq!(
        made["destination_config"]["secret_key"],
        bulkhead::SECRET_MASK
    );
    assert_eq!(made["cron_expression"], "30 2 * * *");
    assert_eq!(made["data_hosting_type"], "user_hosted");
    assert_eq!(made["sync_on_create"], false);
    assert_eq!(tags_of(&made), ["premium"]);
    let id = made["id"].as_str().unwrap().to_owned();
    let path = format!("{T}/connections/{id}");
    let (status, got) = server.send(Method::GET, &path, &key, None).await;
    assert_eq!(status, 200);
    assert_eq!(got, made);

    let (status, listed) = server
        .send(
            Method::GET,
            &format!("{T}/connections?tags=premium"),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(names(&listed), ["Lake"]);
    let (_, all) = server
        .send(Method::GET, &format!("{T}/connections"), &key, None)
        .await;
    assert_eq!(names(&all), ["Lake", "Warehouse"]);

    let (status, patched) = server
        .send(
            Method::PATCH,
            &path,
            &key,
            Some(json!({"name": "Nightly lake", "cron_expression": null, "sync_on_create": false})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "Nightly lake");
    assert_eq!(patched["cron_expression"], Value::Null);
    assert_eq!(
        patched["destination_config"]["secret_key"],
        bulkhead::SECRET_MASK
    );
    let (_, kept) = server
        .send(
            Method::PATCH,
            &path,
            &key,
            Some(json!({"destination_name": "Lake 2"})),
        )
        .await;
    assert_eq!(kept["cron_expression"], Value::Null);
    assert_eq!(kept["name"], "Nightly lake");
    assert_eq!(kept["destination_name"], "Lake 2");

    let (status, deleted) = server.send(Method::DELETE, &path, &key, None).await;
    assert_eq!(status, 200);
    assert_eq!(deleted["id"], id.as_str());
    for method in [Method::GET, Method::DELETE] {
        let (status, ct, text) = server.send_raw(method, &path, &key, None).await;
        assert_eq!(status, 404);
        problem(404, &ct, &text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_template_fields_are_422_naming_them() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let source = create(&server, &format!("{T}/sources"), hubspot()).await;
    let connection = create(&server, &format!("{T}/connections"), warehouse()).await;
    let source_path = format!("{T}/sources/{}", source["id"].as_str().unwrap());
    let connection_path = format!("{T}/connections/{}", connection["id"].as_str().unwrap());
    let with = |base: Value, extra: Value| {
        let mut body = base;
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (
            Method::POST,
            format!("{T}/sources"),
            with(
                hubspot(),
                json!({"customization": {"stream_selection_mode": "all"}}),
            ),
            "customization",
        ),
        (
            Method::POST,
            format!("{T}/sources"),
            with(hubspot(), json!({"mode": "MULTI"})),
            "mode",
        ),
        (
            Method::POST,
            format!("{T}/sources"),
            json!({"original_source_template_id": source["id"]}),
            "original_source_template_id",
        ),
        (
            Method::PATCH,
            source_path.clone(),
            json!({"propagate": true}),
            "propagate",
        ),
        (
            Method::PATCH,
            source_path.clone(),
            json!({"mode": "DIRECT"}),
            "mode",
        ),
        (
            Method::POST,
            format!("{T}/connections"),
            with(warehouse(), json!({"data_hosting_type": "airbyte_hosted"})),
            "data_hosting_type",
        ),
        (
            Method::POST,
            format!("{T}/connections"),
            with(
                warehouse(),
                json!({"non_breaking_changes_preference": "propagate_fully"}),
            ),
            "non_breaking_changes_preference",
        ),
        (
            Method::POST,
            format!("{T}/connections"),
            with(warehouse(), json!({"sync_on_create": true})),
            "sync_on_create",
        ),
        (
            Method::PATCH,
            connection_path.clone(),
            json!({"sync_on_create": true}),
            "sync_on_create",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, ct, text) = server
            .send_raw(method.clone(), &path, &key, Some(body.clone()))
            .await;
        assert_eq!(status, 422, "{method} {path} {body}: {text}");
        assert_eq!(problem(422, &ct, &text)["field"], field, "{body}");
    }
    // Nothing was made or changed.
    let (_, sources) = server
        .send(Method::GET, &format!("{T}/sources"), &key, None)
        .await;
    assert_eq!(names(&sources), ["HubSpot", "Salesforce", "Stripe"]);
    let (_, still) = server.send(Method::GET, &source_path, &key, None).await;
    assert_eq!(still, source);
    let (_, still) = server.send(Method::GET, &connection_path, &key, None).await;
    assert_eq!(still, connection);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_template_bodies_are_400_naming_the_field() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let source = create(&server, &format!("{T}/sources"), hubspot()).await;
    let source_path = format!("{T}/sources/{}", source["id"].as_str().unwrap());
    let cases = [
        (
            Method::POST,
            format!("{T}/sources"),
            json!({}),
            "connector_name",
        ),
        (
            Method::POST,
            format!("{T}/sources"),
            json!({"connector_name": "Not A Connector"}),
            "connector_name",
        ),
        (
            Method::POST,
            format!("{T}/sources"),
            json!({"connector_name": 7}),
            "connector_name",
        ),
        (
            Method::POST,
            format!("{T}/sources"),
            json!({"connector_name": "x", "name": ""}),
            "name",
        ),
        (
            Method::POST,
            format!("{T}/sources"),
            json!({"connector_name": "x", "tags": ["nope"]}),
            "tags",
        ),
        (
            Method::POST,
            format!("{T}/sources"),
            json!({"connector_name": "x", "tags": "production"}),
            "tags",
        ),
        (
            Method::POST,
            format!("{T}/sources"),
            json!({"connector_name": "x", "partial_default_config": [1]}),
            "partial_default_config",
        ),
        (
            Method::POST,
            format!("{T}/sources"),
            json!({"connector_name": "x", "user_config_spec": {"type": 5}}),
            "user_config_spec",
        ),
        (
            Method::POST,
            format!("{T}/sources"),
            json!({"connector_name": "x", "icon": "x.png"}),
            "icon",
        ),
        (
            Method::PATCH,
            source_path.clone(),
            json!({"tags": ["production", ""]}),
            "tags",
        ),
        (
            Method::PATCH,
            format!("{T}/sources/not-a-uuid"),
            json!({}),
            "source_template_id",
        ),
        (
            Method::POST,
            format!("{T}/connections"),
            json!({"destination_connector": "s3", "destination_config": {}}),
            "destination_name",
        ),
        (
            Method::POST,
            format!("{T}/connections"),
            json!({"destination_name": "D", "destination_config": {}}),
            "destination_connector",
        ),
        (
            Method::POST,
            format!("{T}/connections"),
            json!({"destination_name": "D", "destination_connector": "s3"}),
            "destination_config",
        ),
        (
            Method::POST,
            format!("{T}/connections"),
            json!({"destination_name": "D", "destination_connector": "s3", "destination_config": {}, "cron_expression": "0 0 12 * * ?"}),
            "cron_expression",
        ),
        (
            Method::POST,
            format!("{T}/connections"),
            json!({"destination_name": "D", "destination_connector": "s3", "destination_config": {}, "cron_expression": 5}),
            "cron_expression",
        ),
        (
            Method::POST,
            format!("{T}/connections"),
            json!({"destination_name": "D", "destination_connector": "s3", "destination_config": {}, "sync_on_create": "yes"}),
            "sync_on_create",
        ),
        (
            Method::POST,
            format!("{T}/connections"),
            json!({"destination_name": "D", "destination_connector": "s3",
                   "destination_config": {},
                   "destination_spec": {"type": "object", "required": ["bucket"],
                                        "properties": {"bucket": {"type": "string"}}}}),
            "destination_config at `/bucket`",
        ),
        (
            Method::PATCH,
            source_path.clone(),
            json!({"user_config_spec": {"type": "object", "properties": 5}}),
            "user_config_spec",
        ),
        (
            Method::GET,
            format!("{T}/connections/not-a-uuid"),
            Value::Null,
            "connection_template_id",
        ),
        (
            Method::POST,
            format!("{T}/tags"),
            json!({"name": ""}),
            "name",
        ),
        (
            Method::POST,
            format!("{T}/tags"),
            json!({"name": "x".repeat(256)}),
            "name",
        ),
        (Method::POST, format!("{T}/tags"), json!({}), "name"),
        (
            Method::PUT,
            format!("{T}/tags/production"),
            json!({"name": " padded"}),
            "name",
        ),
    ];
    for (method, path, body, field) in cases {
        let body = (!body.is_null()).then_some(body);
        let (status, ct, text) = server
            .send_raw(method.clone(), &path, &key, body.clone())
            .await;
        assert_eq!(status, 400, "{method} {path} {body:?}: {text}");
        assert_eq!(
            problem(400, &ct, &text)["field"],
            field,
            "{method} {path} {body:?}"
        );
    }
    let (_, sources) = server
        .send(Method::GET, &format!("{T}/sources"), &key, None)
        .await;
    assert_eq!(names(&sources), ["HubSpot", "Salesforce", "Stripe"]);
    let (_, connections) = server
        .send(Method::GET, &format!("{T}/connections"), &key, None)
        .await;
    assert_eq!(names(&connections), ["Warehouse"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_create_list_rename_and_delete() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let made = create(&server, &format!("{T}/tags"), json!({"name": "enterprise"})).await;
    assert_eq!(made["id"], "enterprise");
    assert_eq!(made["name"], "enterprise");
    assert!(made["organization_id"].is_string());
    assert!(made["created_at"].is_string());
    let (status, ct, text) = server
        .send_raw(
            Method::POST,
            &format!("{T}/tags"),
            &key,
            Some(json!({"name": "enterprise"})),
        )
        .await;
    assert_eq!(status, 409);
    problem(409, &ct, &text);
    let (status, listed) = server
        .send(Method::GET, &format!("{T}/tags"), &key, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(names(&listed), ["enterprise", "premium", "production"]);

    // A workspace selects `production`; renaming the tag renames it on the templates and
    // in the selection, so the workspace still sees its template.
    let (token, _) = server.customer("cust_tags", None).await;
    let (status, renamed) = server
        .send(
            Method::PUT,
            &format!("{T}/tags/production"),
            &key,
            Some(json!({"name": "prod"})),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["name"], "prod");
    let (_, sources) = server
        .send(Method::GET, &format!("{T}/sources?tags=prod"), &key, None)
        .await;
    assert_eq!(names(&sources), ["Stripe"]);
    let (_, connections) = server
        .send(
            Method::GET,
            &format!("{T}/connections?tags=prod"),
            &key,
            None,
        )
        .await;
    assert_eq!(names(&connections), ["Warehouse"]);
    let (_, seen) = server
        .send(
            Method::GET,
            "/api/v1/embedded/source-templates",
            &token,
            None,
        )
        .await;
    assert_eq!(names(&seen), ["Stripe"]);
    let (status, ct, text) = server
        .send_raw(
            Method::PUT,
            &format!("{T}/tags/production"),
            &key,
            Some(json!({"name": "again"})),
        )
        .await;
    assert_eq!(status, 404);
    problem(404, &ct, &text);
    let (status, ct, text) = server
        .send_raw(
            Method::PUT,
            &format!("{T}/tags/prod"),
            &key,
            Some(json!({"name": "premium"})),
        )
        .await;
    assert_eq!(status, 409, "{text}");
    problem(409, &ct, &text);

    // Deleting `premium` detaches it from the Salesforce template.
    let (status, deleted) = server
        .send(Method::DELETE, &format!("{T}/tags/premium"), &key, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(deleted["id"], "premium");
    assert!(deleted["deleted_at"].is_string());
    let (_, sources) = server
        .send(Method::GET, &format!("{T}/sources"), &key, None)
        .await;
    let salesforce = sources["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Salesforce")
        .unwrap();
    assert_eq!(salesforce["tags"], json!([]));
    let (status, ct, text) = server
        .send_raw(Method::DELETE, &format!("{T}/tags/premium"), &key, None)
        .await;
    assert_eq!(status, 404);
    problem(404, &ct, &text);
    let (_, listed) = server
        .send(Method::GET, &format!("{T}/tags"), &key, None)
        .await;
    assert_eq!(names(&listed), ["enterprise", "prod"]);
    let (status, ct, text) = server
        .send_raw(Method::GET, &format!("{T}/tags?limit=1"), &key, None)
        .await;
    assert_eq!(status, 400);
    assert_eq!(problem(400, &ct, &text)["field"], "limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organizations_templates_and_tags_are_404_like_missing_ones() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let source = create(&server, &format!("{T}/sources"), hubspot()).await;
    let connection = create(&server, &format!("{T}/connections"), warehouse()).await;
    create(&server, &format!("{T}/tags"), json!({"name": "acme-only"})).await;
    let globex = server.other_org();
    for (kind, made) in [("sources", &source), ("connections", &connection)] {
        let theirs = format!("{T}/{kind}/{}", made["id"].as_str().unwrap());
        let random = format!("{T}/{kind}/{}", uuid::Uuid::new_v4());
        for (method, suffix, body) in [
            (Method::GET, "", None),
            (Method::PATCH, "", Some(json!({"name": "taken"}))),
            (Method::DELETE, "", None),
            (Method::POST, "/tags", Some(json!({"tag": "production"}))),
            (Method::DELETE, "/tags/premium", None),
        ] {
            let foreign = server
                .send_raw(
                    method.clone(),
                    &format!("{theirs}{suffix}"),
                    &globex,
                    body.clone(),
                )
                .await;
            let missing = server
                .send_raw(method.clone(), &format!("{random}{suffix}"), &globex, body)
                .await;
            assert_eq!(foreign.0, 404, "{method} {kind}{suffix}: {}", foreign.2);
            problem(404, &foreign.1, &foreign.2);
            assert_eq!(foreign, missing, "{method} {kind}{suffix}");
        }
        let (_, still) = server.send(Method::GET, &theirs, &key, None).await;
        assert_eq!(&still, made);
        // Globex's own list never holds Acme's template.
        let (_, listed) = server
            .send(Method::GET, &format!("{T}/{kind}"), &globex, None)
            .await;
        assert!(!listed.to_string().contains(made["id"].as_str().unwrap()));
    }
    for (method, body) in [
        (Method::PUT, Some(json!({"name": "mine now"}))),
        (Method::DELETE, None),
    ] {
        let foreign = server
            .send_raw(
                method.clone(),
                &format!("{T}/tags/acme-only"),
                &globex,
                body.clone(),
            )
            .await;
        let missing = server
            .send_raw(
                method.clone(),
                &format!("{T}/tags/never-made"),
                &globex,
                body,
            )
            .await;
        assert_eq!(foreign.0, 404, "{method}: {}", foreign.2);
        problem(404, &foreign.1, &foreign.2);
        // The detail names the tag kind, never the name asked for.
        assert_eq!(foreign.2, missing.2, "{method}");
    }
    let (_, tags) = server
        .send(Method::GET, &format!("{T}/tags"), &key, None)
        .await;
    assert!(names(&tags).contains(&"acme-only".to_owned()));
    let (_, theirs) = server
        .send(Method::GET, &format!("{T}/tags"), &globex, None)
        .await;
    assert_eq!(names(&theirs), ["premium", "production"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_token_is_refused_on_every_template_route() {
    let server = Server::start().await;
    let (token, _) = server.customer("cust_catalog", None).await;
    let source = create(&server, &format!("{T}/sources"), hubspot()).await;
    let connection = create(&server, &format!("{T}/connections"), warehouse()).await;
    let s = format!("{T}/sources/{}", source["id"].as_str().unwrap());
    let c = format!("{T}/connections/{}", connection["id"].as_str().unwrap());
    let mut routes = vec![
        (Method::GET, format!("{T}/tags"), None),
        (
            Method::POST,
            format!("{T}/tags"),
            Some(json!({"name": "x"})),
        ),
        (
            Method::PUT,
            format!("{T}/tags/premium"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("{T}/tags/premium"), None),
    ];
    for (root, one, body) in [
        (format!("{T}/sources"), s, hubspot()),
        (format!("{T}/connections"), c, warehouse()),
    ] {
        routes.extend([
            (Method::GET, root.clone(), None),
            (Method::POST, root, Some(body)),
            (Method::GET, one.clone(), None),
            (Method::PATCH, one.clone(), Some(json!({"name": "x"}))),
            (Method::DELETE, one.clone(), None),
            (
                Method::POST,
                format!("{one}/tags"),
                Some(json!({"tag": "production"})),
            ),
            (Method::DELETE, format!("{one}/tags/premium"), None),
        ]);
    }
    for (method, path, body) in routes {
        let (status, ct, text) = server.send_raw(method.clone(), &path, &token, body).await;
        assert_eq!(status, 401, "{method} {path}: {text}");
        problem(401, &ct, &text);
        assert!(!text.contains(&token));
    }
    // Nothing changed: the catalog is as the org key made it.
    let key = server.org_key.clone();
    let (_, still) = server
        .send(
            Method::GET,
            &format!("{T}/sources/{}", source["id"].as_str().unwrap()),
            &key,
            None,
        )
        .await;
    assert_eq!(still, source);
    let (_, tags) = server
        .send(Method::GET, &format!("{T}/tags"), &key, None)
        .await;
    assert_eq!(names(&tags), ["premium", "production"]);
    // An access token is an organization credential here.
    let access = server.access_token().await;
    let (status, listed) = server
        .send(Method::GET, &format!("{T}/sources"), &access, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(names(&listed), ["HubSpot", "Salesforce", "Stripe"]);
}
