//! The Airbyte public API v1 connections routes over HTTP: list, create, get, patch and
//! delete on both prefixes; a scoped token in its own workspace; another organization's or
//! workspace's ids answered like missing ones on every method; the fields Bulkhead has no
//! counterpart for refused unless they ask for nothing; malformed input as 4xx problem JSON.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{Server, problem};

const PREFIXES: [&str; 2] = ["/v1", "/api/public/v1"];

/// A workspace with a faker source and a dev-null destination, under `key`:
/// (workspace, source, destination).
async fn endpoints(server: &Server, key: &str, name: &str) -> (String, String, String) {
    let ws = server.v1_workspace(key, name).await;
    let (status, source) = server
        .send(
            Method::POST,
            "/v1/sources",
            key,
            Some(json!({"name": "Faker", "workspaceId": ws,
                        "configuration": {"sourceType": "faker"}})),
        )
        .await;
    assert_eq!(status, 200, "{source}");
    let (status, destination) = server
        .send(
            Method::POST,
            "/v1/destinations",
            key,
            Some(json!({"name": "Null", "workspaceId": ws,
                        "configuration": {"destinationType": "dev-null"}})),
        )
        .await;
    assert_eq!(status, 200, "{destination}");
    (
        ws,
        source["sourceId"].as_str().unwrap().to_owned(),
        destination["destinationId"].as_str().unwrap().to_owned(),
    )
}

/// `POST {prefix}/connections` with the SDK's defaults; the answer.
async fn connect(server: &Server, prefix: &str, key: &str, source: &str, dest: &str) -> Value {
    let (status, body) = server
        .send(
            Method::POST,
            &format!("{prefix}/connections"),
            key,
            Some(json!({
                "sourceId": source,
                "destinationId": dest,
                "schedule": {"scheduleType": "cron", "cronExpression": "0 * * * *"},
                "namespaceDefinition": "destination",
                "prefix": "",
                "nonBreakingSchemaUpdatesBehavior": "ignore",
                "configurations": {"streams": []},
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_crud_on_both_prefixes() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    for prefix in PREFIXES {
        let (ws, source, dest) = endpoints(&server, &key, &format!("c{}", prefix.len())).await;
        let created = connect(&server, prefix, &key, &source, &dest).await;
        // Every field the SDK requires.
        assert_eq!(created["name"], "Faker → Null");
        assert_eq!(created["sourceId"], source.as_str());
        assert_eq!(created["destinationId"], dest.as_str());
        assert_eq!(created["workspaceId"], ws.as_str());
        assert_eq!(created["status"], "active");
        assert_eq!(
            created["schedule"],
            json!({"scheduleType": "cron", "cronExpression": "0 * * * *"})
        );
        assert_eq!(created["configurations"], json!({"streams": []}));
        assert_eq!(created["tags"], json!([]));
        assert!(created["createdAt"].is_i64());
        let id = created["connectionId"].as_str().unwrap().to_owned();
        let path = format!("{prefix}/connections/{id}");

        let (status, got) = server.send(Method::GET, &path, &key, None).await;
        assert_eq!(status, 200);
        assert_eq!(got, created);
        let (status, listed) = server
            .send(
                Method::GET,
                &format!(
                    "{prefix}/connections?workspaceIds={ws}&includeDeleted=false&limit=20&offset=0"
                ),
                &key,
                None,
            )
            .await;
        assert_eq!(status, 200, "{listed}");
        assert_eq!(listed["data"], json!([created]));

        let (status, patched) = server
            .send(
                Method::PATCH,
                &path,
                &key,
                Some(json!({"name": "Nightly", "status": "inactive",
                            "schedule": {"scheduleType": "manual"}})),
            )
            .await;
        assert_eq!(status, 200, "{patched}");
        assert_eq!(patched["name"], "Nightly");
        assert_eq!(patched["status"], "inactive");
        assert_eq!(patched["schedule"], json!({"scheduleType": "manual"}));

        // The source is in use: deleting it is a conflict until the connection goes.
        let (status, _) = server
            .send(
                Method::DELETE,
                &format!("{prefix}/sources/{source}"),
                &key,
                None,
            )
            .await;
        assert_eq!(status, 409);
        let res = server
            .http
            .delete(server.url(&path))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        assert!(res.text().await.unwrap().is_empty());
        let (status, _) = server.send(Method::GET, &path, &key, None).await;
        assert_eq!(status, 404);
        let (status, _) = server
            .send(
                Method::DELETE,
                &format!("{prefix}/sources/{source}"),
                &key,
                None,
            )
            .await;
        assert_eq!(status, 204);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_connection_is_404_like_a_missing_one() {
    let server = Server::start().await;
    let other_key = server.other_org();
    let (their_ws, their_source, their_dest) = endpoints(&server, &other_key, "globex").await;
    let theirs = connect(&server, "/v1", &other_key, &their_source, &their_dest).await;
    let theirs = theirs["connectionId"].as_str().unwrap().to_owned();
    let (my_ws, my_source, my_dest) = endpoints(&server, &server.org_key, "acme").await;
    let mine = connect(&server, "/v1", &server.org_key, &my_source, &my_dest).await;
    let mine = mine["connectionId"].as_str().unwrap().to_owned();
    // A customer of this organization, in a workspace of its own.
    let (scoped, _) = server.customer("cust_conn", None).await;
    let missing = uuid::Uuid::new_v4().to_string();
    for prefix in PREFIXES {
        for (credential, foreign, foreign_ws) in [
            (server.org_key.as_str(), theirs.as_str(), their_ws.as_str()),
            (scoped.as_str(), theirs.as_str(), their_ws.as_str()),
            (scoped.as_str(), mine.as_str(), my_ws.as_str()),
        ] {
            for (method, body) in [
                (Method::GET, None),
                (Method::PATCH, Some(json!({"name": "mine now"}))),
                (Method::DELETE, None),
            ] {
                let mut answers = Vec::new();
                for id in [foreign, missing.as_str()] {
                    let (status, ct, text) = server
                        .send_raw(
                            method.clone(),
                            &format!("{prefix}/connections/{id}"),
                            credential,
                            body.clone(),
                        )
                        .await;
                    assert_eq!(status, 404, "{method} {text}");
                    problem(404, &ct, &text);
                    assert!(!text.contains(foreign));
                    answers.push(text);
                }
                assert_eq!(answers[0], answers[1]);
            }
            let (status, listed) = server
                .send(
                    Method::GET,
                    &format!("{prefix}/connections?workspaceIds={foreign_ws}"),
                    credential,
                    None,
                )
                .await;
            assert_eq!(status, 200, "{listed}");
            assert!(listed["data"].as_array().unwrap().is_empty());
        }
        // Their source with my destination, or mine with theirs: not found.
        for (source, dest) in [(&their_source, &my_dest), (&my_source, &their_dest)] {
            let (status, ct, text) = server
                .send_raw(
                    Method::POST,
                    &format!("{prefix}/connections"),
                    &server.org_key,
                    Some(json!({"sourceId": source, "destinationId": dest})),
                )
                .await;
            assert_eq!(status, 404, "{text}");
            problem(404, &ct, &text);
        }
    }
    let (status, _) = server
        .send(
            Method::GET,
            &format!("/v1/connections/{theirs}"),
            &other_key,
            None,
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_sees_its_own_connections() {
    let server = Server::start().await;
    let all = ["templates:read", "sources:create"];
    let (token, ws) = server.customer("cust_own_conn", Some(&all)).await;
    // The Stripe source's connection template makes a connection here.
    server.create_source(&token).await;
    let (reader, _) = server.customer("cust_own_conn", None).await;
    for prefix in PREFIXES {
        let (status, listed) = server
            .send(Method::GET, &format!("{prefix}/connections"), &reader, None)
            .await;
        assert_eq!(status, 200, "{listed}");
        let data = listed["data"].as_array().unwrap();
        assert_eq!(data.len(), 1);
        assert_eq!(data[0]["workspaceId"], ws.as_str());
        let id = data[0]["connectionId"].as_str().unwrap();
        let (status, got) = server
            .send(
                Method::GET,
                &format!("{prefix}/connections/{id}"),
                &reader,
                None,
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(&got, &data[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_or_unsupported_connection_requests_are_4xx_problems() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let (_, source, dest) = endpoints(&server, &key, "bad").await;
    let made = connect(&server, "/v1", &key, &source, &dest).await;
    let id = made["connectionId"].as_str().unwrap().to_owned();
    let base = json!({"sourceId": source, "destinationId": dest});
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        Some(body)
    };
    for prefix in PREFIXES {
        let all = format!("{prefix}/connections");
        let one = format!("{prefix}/connections/{id}");
        let cases: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("{all}?tagIds=x"), None),
            (Method::GET, format!("{all}?limit=0"), None),
            (Method::GET, format!("{one}?x=1"), None),
            (Method::GET, format!("{all}/nope"), None),
            (Method::POST, all.clone(), Some(json!({"sourceId": source}))),
            (Method::POST, all.clone(), with("sourceId", json!("nope"))),
            (
                Method::POST,
                all.clone(),
                with("schedule", json!({"scheduleType": "basic"})),
            ),
            (
                Method::POST,
                all.clone(),
                with(
                    "schedule",
                    json!({"scheduleType": "cron", "cronExpression": "0 0 12 * * ?"}),
                ),
            ),
            (
                Method::POST,
                all.clone(),
                with("schedule", json!({"scheduleType": "cron"})),
            ),
            (
                Method::POST,
                all.clone(),
                with(
                    "schedule",
                    json!({"scheduleType": "basic", "basicTiming": "every 0 hours"}),
                ),
            ),
            (
                Method::POST,
                all.clone(),
                with(
                    "schedule",
                    json!({"scheduleType": "basic", "basicTiming": "hourly"}),
                ),
            ),
            (
                Method::POST,
                all.clone(),
                with(
                    "schedule",
                    json!({"scheduleType": "manual", "basicTiming": "every 1 hour"}),
                ),
            ),
            (
                Method::PATCH,
                one.clone(),
                Some(json!({"schedule": {"scheduleType": "cron", "cronExpression": "0 0 30 2 *"}})),
            ),
            (
                Method::POST,
                all.clone(),
                with("status", json!("deprecated")),
            ),
            (
                Method::POST,
                all.clone(),
                with("configurations", json!({"streams": [{"name": "users"}]})),
            ),
            (Method::POST, all.clone(), with("prefix", json!("raw_"))),
            (
                Method::POST,
                all.clone(),
                with("namespaceDefinition", json!("source")),
            ),
            (
                Method::POST,
                all.clone(),
                with("nonBreakingSchemaUpdatesBehavior", json!("propagate_fully")),
            ),
            (
                Method::POST,
                all.clone(),
                with("dataResidency", json!("eu")),
            ),
            (
                Method::POST,
                all.clone(),
                with("tags", json!([{"tagId": "x"}])),
            ),
            (Method::POST, all.clone(), with("color", json!("red"))),
            (
                Method::PATCH,
                one.clone(),
                Some(json!({"sourceId": source})),
            ),
            (
                Method::PATCH,
                one.clone(),
                Some(json!({"status": "locked"})),
            ),
            (Method::PATCH, one.clone(), Some(json!({"name": ""}))),
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
    }
    let (status, got) = server
        .send(Method::GET, &format!("/v1/connections/{id}"), &key, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(got, made);
}

/// A `basic` schedule (an interval in `basicTiming`) is taken on create and patch and answered
/// as the SDK's `ConnectionScheduleResponse` reads it, lower case; a bad one names
/// `schedule.basicTiming`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_schedules_are_taken_and_answered_as_the_sdk_reads_them() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let (_, source, dest) = endpoints(&server, &key, "basic").await;
    let (status, made) = server
        .send(
            Method::POST,
            "/v1/connections",
            &key,
            Some(json!({"sourceId": source, "destinationId": dest,
                        "schedule": {"scheduleType": "basic", "basicTiming": "Every 6 Hours"}})),
        )
        .await;
    assert_eq!(status, 200, "{made}");
    assert_eq!(
        made["schedule"],
        json!({"scheduleType": "basic", "basicTiming": "every 6 hours"})
    );
    let path = format!("/v1/connections/{}", made["connectionId"].as_str().unwrap());
    let (status, got) = server.send(Method::GET, &path, &key, None).await;
    assert_eq!(status, 200);
    assert_eq!(got["schedule"], made["schedule"]);
    let (status, patched) = server
        .send(
            Method::PATCH,
            &path,
            &key,
            Some(json!({"schedule": {"scheduleType": "basic", "basicTiming": "every 15 minutes"}})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched["schedule"],
        json!({"scheduleType": "basic", "basicTiming": "every 15 minutes"})
    );
    let (status, patched) = server
        .send(
            Method::PATCH,
            &path,
            &key,
            Some(json!({"schedule": {"scheduleType": "cron", "cronExpression": "30 2 * * 1-5"}})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched["schedule"],
        json!({"scheduleType": "cron", "cronExpression": "30 2 * * 1-5"})
    );
    let (status, ct, text) = server
        .send_raw(
            Method::PATCH,
            &path,
            &key,
            Some(json!({"schedule": {"scheduleType": "basic", "basicTiming": "every 400 days"}})),
        )
        .await;
    assert_eq!(status, 400, "{text}");
    problem(status, &ct, &text);
    assert!(text.contains("schedule.basicTiming"), "{text}");
}
