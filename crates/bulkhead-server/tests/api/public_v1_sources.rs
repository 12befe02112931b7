//! The Airbyte public API v1 sources routes over HTTP: list, create, get, patch, put and
//! delete on both prefixes with an org key, an access token and a scoped token; offset pages
//! linked under the public URL; configuration echoed as stored with secrets masked; another
//! organization's or workspace's ids answered like missing ones on every method; malformed
//! input as 4xx problem JSON.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{Server, default_config, problem};

const PREFIXES: [&str; 2] = ["/v1", "/api/public/v1"];

/// Every operation a scoped token may hold on sources.
const ALL_SOURCE_OPS: [&str; 5] = [
    "templates:read",
    "sources:read",
    "sources:create",
    "sources:update",
    "sources:delete",
];

/// `POST {prefix}/sources` of a faker source, as the SDK's typed model sends it; the answer.
async fn faker(
    server: &Server,
    prefix: &str,
    credential: &str,
    workspace_id: &str,
    name: &str,
) -> Value {
    let (status, body) = server
        .send(
            Method::POST,
            &format!("{prefix}/sources"),
            credential,
            Some(json!({
                "name": name,
                "workspaceId": workspace_id,
                "configuration": {"sourceType": "faker", "count": 10, "seed": -1},
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Asserts `body` is a `SourceResponse` with every field the SDK requires.
fn assert_source_response(body: &Value, name: &str, workspace_id: &str) -> String {
    assert_eq!(body["name"], name);
    assert_eq!(body["workspaceId"], workspace_id);
    assert!(body["sourceType"].is_string(), "{body}");
    assert!(body["definitionId"].is_string(), "{body}");
    assert!(body["configuration"].is_object(), "{body}");
    assert!(body["createdAt"].is_i64(), "{body}");
    body["sourceId"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_crud_on_both_prefixes_with_either_org_credential() {
    let server = Server::start().await;
    let token = server.access_token().await;
    for (prefix, credential) in [("/v1", token.as_str()), ("/api/public/v1", &server.org_key)] {
        let ws = server
            .v1_workspace(credential, &format!("cust{}", prefix.len()))
            .await;
        // Create: the configuration is echoed as stored, `sourceType` included.
        let created = faker(&server, prefix, credential, &ws, "Faker").await;
        let id = assert_source_response(&created, "Faker", &ws);
        assert_eq!(created["sourceType"], "faker");
        assert_eq!(
            created["configuration"],
            json!({"sourceType": "faker", "count": 10, "seed": -1})
        );
        // `definitionId` instead of `sourceType`.
        let (status, other) = server
            .send(
                Method::POST,
                &format!("{prefix}/sources"),
                credential,
                Some(json!({"name": "PG", "workspaceId": ws,
                            "configuration": {"host": "db"}, "definitionId": "postgres"})),
            )
            .await;
        assert_eq!(status, 200, "{other}");
        assert_eq!(other["sourceType"], "postgres");
        assert_eq!(other["configuration"], json!({"host": "db"}));
        let path = format!("{prefix}/sources/{id}");

        // Get, with the query the SDK may send.
        let res = server
            .http
            .get(server.url(&format!("{path}?includeSecretCoordinates=false")))
            .bearer_auth(credential)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let got: Value = res.json().await.unwrap();
        assert_eq!(got, created);

        // List, filtered by the workspace (repeated and comma-joined).
        for query in [
            format!("workspaceIds={ws}&includeDeleted=false&limit=20&offset=0"),
            format!("workspaceIds={ws},{ws}"),
        ] {
            let (status, listed) = server
                .send(
                    Method::GET,
                    &format!("{prefix}/sources?{query}"),
                    credential,
                    None,
                )
                .await;
            assert_eq!(status, 200, "{listed}");
            let data = listed["data"].as_array().unwrap();
            assert_eq!(data.len(), 2);
            assert_eq!(data[0], created);
            assert!(listed.get("previous").is_none());
        }

        // Patch: a name, then a configuration.
        let (status, renamed) = server
            .send(
                Method::PATCH,
                &path,
                credential,
                Some(json!({"name": "Renamed", "workspaceId": ws})),
            )
            .await;
        assert_eq!(status, 200, "{renamed}");
        assert_eq!(renamed["name"], "Renamed");
        assert_eq!(renamed["configuration"], created["configuration"]);
        let (status, patched) = server
            .send(
                Method::PATCH,
                &path,
                credential,
                Some(json!({"configuration": {"sourceType": "faker", "count": 20}})),
            )
            .await;
        assert_eq!(status, 200, "{patched}");
        assert_eq!(patched["name"], "Renamed");
        assert_eq!(patched["configuration"]["count"], 20);
        // Put: both.
        let (status, put) = server
            .send(
                Method::PUT,
                &path,
                credential,
                Some(json!({"name": "Put", "configuration": {"sourceType": "faker", "count": 5}})),
            )
            .await;
        assert_eq!(status, 200, "{put}");
        assert_eq!(put["name"], "Put");
        assert_eq!(
            put["configuration"],
            json!({"sourceType": "faker", "count": 5})
        );

        // Delete: 204, no body; then it is gone.
        let res = server
            .http
            .delete(server.url(&path))
            .bearer_auth(credential)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        assert!(res.text().await.unwrap().is_empty());
        let (status, _) = server.send(Method::GET, &path, credential, None).await;
        assert_eq!(status, 404);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_offset_pages_link_under_the_public_url() {
    let server =
        Server::start_configured(default_config().public_url("https://api.example.com/")).await;
    let a = server.v1_workspace(&server.org_key, "a_cust").await;
    let b = server.v1_workspace(&server.org_key, "b_cust").await;
    let mut ids = Vec::new();
    for (ws, n) in [(&a, 0), (&a, 1), (&b, 2)] {
        let made = faker(&server, "/v1", &server.org_key, ws, &format!("s{n}")).await;
        ids.push(made["sourceId"].as_str().unwrap().to_owned());
    }
    for prefix in PREFIXES {
        let page = |offset: u32| {
            let url = format!("{prefix}/sources?includeDeleted=false&limit=2&offset={offset}");
            let server = &server;
            async move { server.get_ok(&url).await }
        };
        let first = page(0).await;
        let got: Vec<&str> = first["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["sourceId"].as_str().unwrap())
            .collect();
        assert_eq!(got, [ids[0].as_str(), ids[1].as_str()]);
        assert_eq!(
            first["next"],
            format!(
                "https://api.example.com{prefix}/sources?includeDeleted=false&limit=2&offset=2"
            )
        );
        assert!(first.get("previous").is_none());
        let second = page(2).await;
        assert_eq!(second["data"].as_array().unwrap().len(), 1);
        assert_eq!(second["data"][0]["sourceId"], ids[2].as_str());
        assert!(second.get("next").is_none());
        assert_eq!(
            second["previous"],
            format!(
                "https://api.example.com{prefix}/sources?includeDeleted=false&limit=2&offset=0"
            )
        );
        // One workspace only.
        let only_b = server
            .get_ok(&format!("{prefix}/sources?workspaceIds={b}"))
            .await;
        assert_eq!(only_b["data"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organizations_source_is_404_like_a_missing_one() {
    let server = Server::start().await;
    let other_key = server.other_org();
    let their_ws = server.v1_workspace(&other_key, "globex-customer").await;
    let theirs = faker(&server, "/v1", &other_key, &their_ws, "Theirs").await;
    let theirs = theirs["sourceId"].as_str().unwrap().to_owned();
    let missing = uuid::Uuid::new_v4().to_string();
    let token = server.access_token().await;
    let (scoped, _) = server
        .customer("cust_cross_org", Some(&ALL_SOURCE_OPS))
        .await;
    for prefix in PREFIXES {
        for credential in [token.as_str(), &server.org_key, &scoped] {
            for (method, body) in [
                (Method::GET, None),
                (Method::PATCH, Some(json!({"name": "mine now"}))),
                (
                    Method::PUT,
                    Some(json!({"name": "mine now", "configuration": {}})),
                ),
                (Method::DELETE, None),
            ] {
                let mut answers = Vec::new();
                for id in [&theirs, &missing] {
                    let (status, ct, text) = server
                        .send_raw(
                            method.clone(),
                            &format!("{prefix}/sources/{id}"),
                            credential,
                            body.clone(),
                        )
                        .await;
                    assert_eq!(status, 404, "{method} {text}");
                    problem(404, &ct, &text);
                    assert!(!text.contains(&theirs) && !text.contains(&their_ws));
                    answers.push(text);
                }
                assert_eq!(answers[0], answers[1]);
            }
            // A filter on their workspace lists nothing.
            let (status, listed) = server
                .send(
                    Method::GET,
                    &format!("{prefix}/sources?workspaceIds={their_ws}"),
                    credential,
                    None,
                )
                .await;
            assert_eq!(status, 200);
            assert!(listed["data"].as_array().unwrap().is_empty());
        }
        // Creating in their workspace is a 404, like in a missing one.
        for credential in [token.as_str(), &server.org_key] {
            let mut answers = Vec::new();
            for ws in [&their_ws, &missing] {
                let (status, ct, text) = server
                    .send_raw(
                        Method::POST,
                        &format!("{prefix}/sources"),
                        credential,
                        Some(json!({"name": "x", "workspaceId": ws,
                                    "configuration": {"sourceType": "faker"}})),
                    )
                    .await;
                assert_eq!(status, 404, "{text}");
                problem(404, &ct, &text);
                answers.push(text.replace(ws.as_str(), "ID"));
            }
            assert_eq!(answers[0], answers[1]);
        }
    }
    // Theirs is untouched.
    let (status, body) = server
        .send(
            Method::GET,
            &format!("/v1/sources/{theirs}"),
            &other_key,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], "Theirs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_reaches_its_own_workspace_only_with_secrets_masked() {
    let server = Server::start().await;
    let (mine, my_ws) = server.customer("cust_mine", Some(&ALL_SOURCE_OPS)).await;
    let (yours, your_ws) = server.customer("cust_yours", Some(&ALL_SOURCE_OPS)).await;
    // Sources from the Stripe template, whose `api_key` is secret.
    let my_source = server.create_source(&mine).await;
    let my_id = my_source["id"].as_str().unwrap().to_owned();
    server.create_source(&yours).await;
    let missing = uuid::Uuid::new_v4().to_string();
    for prefix in PREFIXES {
        // The secret is masked for the customer and for the organization alike
        // (`Server::send` also fails on any answer carrying it).
        for credential in [mine.as_str(), &server.org_key] {
            let (status, got) = server
                .send(
                    Method::GET,
                    &format!("{prefix}/sources/{my_id}"),
                    credential,
                    None,
                )
                .await;
            assert_eq!(status, 200, "{got}");
            assert_source_response(&got, "My Stripe", &my_ws);
            assert_eq!(got["configuration"]["api_key"], bulkhead::SECRET_MASK);
            assert_eq!(got["configuration"]["account"], "acct_1");
            assert_eq!(got["sourceType"], "stripe");
        }
        // The customer lists its own sources only, whatever it filters on.
        for query in ["", "?workspaceIds=", "?limit=100"] {
            let (status, listed) = server
                .send(
                    Method::GET,
                    &format!("{prefix}/sources{query}"),
                    &mine,
                    None,
                )
                .await;
            assert_eq!(status, 200, "{listed}");
            let data = listed["data"].as_array().unwrap();
            assert_eq!(data.len(), 1);
            assert_eq!(data[0]["sourceId"], my_id.as_str());
        }
        let (status, listed) = server
            .send(
                Method::GET,
                &format!("{prefix}/sources?workspaceIds={your_ws}"),
                &mine,
                None,
            )
            .await;
        assert_eq!(status, 200);
        assert!(listed["data"].as_array().unwrap().is_empty());
        // The organization sees both.
        let listed = server.get_ok(&format!("{prefix}/sources")).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 2);
        // Another workspace's source is a 404 like a random id, on every method.
        for (method, body) in [
            (Method::GET, None),
            (Method::PATCH, Some(json!({"name": "mine now"}))),
            (Method::DELETE, None),
        ] {
            let mut answers = Vec::new();
            for id in [&my_id, &missing] {
                let (status, ct, text) = server
                    .send_raw(
                        method.clone(),
                        &format!("{prefix}/sources/{id}"),
                        &yours,
                        body.clone(),
                    )
                    .await;
                assert_eq!(status, 404, "{method} {text}");
                problem(404, &ct, &text);
                answers.push(text);
            }
            assert_eq!(answers[0], answers[1]);
        }
        // A raw configuration needs organization access: 403 in its own workspace, 404 in
        // another one.
        let raw = |ws: &str| {
            Some(json!({"name": "raw", "workspaceId": ws,
                        "configuration": {"sourceType": "faker"}}))
        };
        let (status, ct, text) = server
            .send_raw(
                Method::POST,
                &format!("{prefix}/sources"),
                &mine,
                raw(&my_ws),
            )
            .await;
        assert_eq!(status, 403, "{text}");
        problem(403, &ct, &text);
        let (status, ct, text) = server
            .send_raw(
                Method::POST,
                &format!("{prefix}/sources"),
                &mine,
                raw(&your_ws),
            )
            .await;
        assert_eq!(status, 404, "{text}");
        problem(404, &ct, &text);
    }
    // The customer renames its source over v1, keeping the secret by sending the mask.
    let (status, renamed) = server
        .send(
            Method::PATCH,
            &format!("/v1/sources/{my_id}"),
            &mine,
            Some(json!({"name": "Renamed",
                        "configuration": {"api_key": bulkhead::SECRET_MASK, "account": "acct_1"}})),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["name"], "Renamed");
    assert_eq!(renamed["configuration"]["api_key"], bulkhead::SECRET_MASK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_source_requests_are_4xx_problems() {
    let server = Server::start().await;
    let ws = server.v1_workspace(&server.org_key, "cust_bad").await;
    let made = faker(&server, "/v1", &server.org_key, &ws, "Faker").await;
    let id = made["sourceId"].as_str().unwrap().to_owned();
    let key = server.org_key.clone();
    for prefix in PREFIXES {
        let sources = format!("{prefix}/sources");
        let one = format!("{prefix}/sources/{id}");
        let cases: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("{sources}?workspaceId={ws}"), None),
            (Method::GET, format!("{sources}?limit=0"), None),
            (Method::GET, format!("{sources}?limit=101"), None),
            (Method::GET, format!("{sources}?offset=-1"), None),
            (Method::GET, format!("{sources}?workspaceIds=nope"), None),
            (Method::GET, format!("{sources}?includeDeleted=maybe"), None),
            (
                Method::GET,
                format!("{one}?includeSecretCoordinates=true"),
                None,
            ),
            (Method::GET, format!("{one}?verbose=1"), None),
            (Method::GET, format!("{prefix}/sources/not-a-uuid"), None),
            (Method::DELETE, format!("{prefix}/sources/not-a-uuid"), None),
            (Method::POST, sources.clone(), Some(json!({}))),
            (Method::POST, sources.clone(), Some(json!([1, 2]))),
            (
                Method::POST,
                sources.clone(),
                Some(json!({"name": "x", "workspaceId": "nope",
                            "configuration": {"sourceType": "faker"}})),
            ),
            (
                Method::POST,
                sources.clone(),
                Some(json!({"name": "x", "workspaceId": ws, "configuration": {}})),
            ),
            (
                Method::POST,
                sources.clone(),
                Some(json!({"name": "x", "workspaceId": ws, "configuration": "faker"})),
            ),
            (
                Method::POST,
                sources.clone(),
                Some(json!({"name": "x", "workspaceId": ws,
                            "configuration": {"sourceType": 7}})),
            ),
            (
                Method::POST,
                sources.clone(),
                Some(json!({"name": "x", "workspaceId": ws,
                            "configuration": {"sourceType": "Not A Connector!"}})),
            ),
            (
                Method::POST,
                sources.clone(),
                Some(
                    json!({"name": "x", "workspaceId": ws, "definitionId": "postgres",
                            "configuration": {"sourceType": "faker"}}),
                ),
            ),
            (
                Method::POST,
                sources.clone(),
                Some(json!({"name": "", "workspaceId": ws,
                            "configuration": {"sourceType": "faker"}})),
            ),
            (
                Method::POST,
                sources.clone(),
                Some(json!({"name": "x", "workspaceId": ws, "secretId": "s",
                            "configuration": {"sourceType": "faker"}})),
            ),
            (Method::PATCH, one.clone(), Some(json!({"color": "red"}))),
            (Method::PATCH, one.clone(), Some(json!({"name": 7}))),
            (
                Method::PATCH,
                one.clone(),
                Some(json!({"workspaceId": uuid::Uuid::new_v4().to_string()})),
            ),
            (
                Method::PATCH,
                one.clone(),
                Some(json!({"configuration": {"sourceType": "postgres"}})),
            ),
            (
                Method::PUT,
                one.clone(),
                Some(json!({"name": "only a name"})),
            ),
        ];
        for (method, path, body) in cases {
            let (status, ct, text) = server
                .send_raw(method.clone(), &path, &key, body.clone())
                .await;
            assert!(
                (400..500).contains(&status),
                "{method} {path} {body:?}: {status} {text}"
            );
            problem(status, &ct, &text);
        }
        // A body that is not JSON at all.
        let res = server
            .http
            .post(server.url(&sources))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert!((400..500).contains(&status));
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        problem(status, &ct, &res.text().await.unwrap());
        // Without a credential: 401.
        let res = server.http.get(server.url(&sources)).send().await.unwrap();
        assert_eq!(res.status(), 401);
    }
    // Nothing above changed the source.
    let (status, got) = server
        .send(Method::GET, &format!("/v1/sources/{id}"), &key, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(got, made);
}
