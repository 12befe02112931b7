//! The Airbyte public API v1 destinations routes over HTTP (the same handlers as sources,
//! which `public_v1_sources.rs` covers in depth): list, create, get, patch, put and delete on
//! both prefixes with an org key and an access token; a scoped token in its own workspace;
//! another organization's or workspace's ids answered like missing ones on every method;
//! malformed input as 4xx problem JSON.
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

/// A dev-null configuration as the SDK's typed model sends it.
fn dev_null() -> Value {
    json!({"destinationType": "dev-null", "test_destination": {"test_destination_type": "SILENT"}})
}

/// `POST {prefix}/destinations` of a dev-null destination; the answer.
async fn create(server: &Server, prefix: &str, credential: &str, ws: &str, name: &str) -> Value {
    let (status, body) = server
        .send(
            Method::POST,
            &format!("{prefix}/destinations"),
            credential,
            Some(json!({"name": name, "workspaceId": ws, "configuration": dev_null()})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_crud_on_both_prefixes_with_either_org_credential() {
    let server = Server::start().await;
    let token = server.access_token().await;
    for (prefix, credential) in [("/v1", token.as_str()), ("/api/public/v1", &server.org_key)] {
        let ws = server
            .v1_workspace(credential, &format!("cust{}", prefix.len()))
            .await;
        let created = create(&server, prefix, credential, &ws, "Null").await;
        assert_eq!(created["name"], "Null");
        assert_eq!(created["workspaceId"], ws.as_str());
        assert_eq!(created["destinationType"], "dev-null");
        assert_eq!(created["definitionId"], "dev-null");
        assert!(created["createdAt"].is_i64());
        // Echoed as stored: the SDK parses it by `destinationType`.
        assert_eq!(created["configuration"], dev_null());
        let id = created["destinationId"].as_str().unwrap().to_owned();
        let path = format!("{prefix}/destinations/{id}");

        let (status, got) = server.send(Method::GET, &path, credential, None).await;
        assert_eq!(status, 200);
        assert_eq!(got, created);

        let (status, listed) = server
            .send(
                Method::GET,
                &format!(
                    "{prefix}/destinations?workspaceIds={ws}&includeDeleted=false&limit=20&offset=0"
                ),
                credential,
                None,
            )
            .await;
        assert_eq!(status, 200, "{listed}");
        assert_eq!(listed["data"], json!([created]));

        let (status, renamed) = server
            .send(
                Method::PATCH,
                &path,
                credential,
                Some(json!({"name": "Renamed"})),
            )
            .await;
        assert_eq!(status, 200, "{renamed}");
        assert_eq!(renamed["name"], "Renamed");
        assert_eq!(renamed["configuration"], dev_null());
        let (status, put) = server
            .send(
                Method::PUT,
                &path,
                credential,
                Some(json!({"name": "Put", "configuration": dev_null()})),
            )
            .await;
        assert_eq!(status, 200, "{put}");
        assert_eq!(put["name"], "Put");

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
async fn another_tenants_destination_is_404_like_a_missing_one() {
    let server = Server::start().await;
    let other_key = server.other_org();
    let their_ws = server.v1_workspace(&other_key, "globex-customer").await;
    let theirs = create(&server, "/v1", &other_key, &their_ws, "Theirs").await;
    let theirs = theirs["destinationId"].as_str().unwrap().to_owned();
    // Another workspace of this organization, and its destination.
    let (scoped, _) = server
        .customer(
            "cust_dest",
            Some(&[
                "destinations:read",
                "destinations:update",
                "destinations:delete",
            ]),
        )
        .await;
    let neighbour_ws = server.v1_workspace(&server.org_key, "neighbour").await;
    let neighbour = create(&server, "/v1", &server.org_key, &neighbour_ws, "Next door").await;
    let neighbour = neighbour["destinationId"].as_str().unwrap().to_owned();
    let missing = uuid::Uuid::new_v4().to_string();
    let token = server.access_token().await;
    for prefix in PREFIXES {
        let mut cases = vec![
            (token.as_str(), theirs.as_str(), their_ws.as_str()),
            (server.org_key.as_str(), theirs.as_str(), their_ws.as_str()),
            (scoped.as_str(), theirs.as_str(), their_ws.as_str()),
        ];
        cases.push((scoped.as_str(), neighbour.as_str(), neighbour_ws.as_str()));
        for (credential, foreign, foreign_ws) in cases {
            for (method, body) in [
                (Method::GET, None),
                (Method::PATCH, Some(json!({"name": "mine now"}))),
                (
                    Method::PUT,
                    Some(json!({"name": "mine now", "configuration": dev_null()})),
                ),
                (Method::DELETE, None),
            ] {
                let mut answers = Vec::new();
                for id in [foreign, missing.as_str()] {
                    let (status, ct, text) = server
                        .send_raw(
                            method.clone(),
                            &format!("{prefix}/destinations/{id}"),
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
                    &format!("{prefix}/destinations?workspaceIds={foreign_ws}"),
                    credential,
                    None,
                )
                .await;
            assert_eq!(status, 200, "{listed}");
            assert!(listed["data"].as_array().unwrap().is_empty());
        }
        // Creating in their workspace is a 404, like in a missing one.
        let mut answers = Vec::new();
        for ws in [&their_ws, &missing] {
            let (status, ct, text) = server
                .send_raw(
                    Method::POST,
                    &format!("{prefix}/destinations"),
                    &server.org_key,
                    Some(json!({"name": "x", "workspaceId": ws, "configuration": dev_null()})),
                )
                .await;
            assert_eq!(status, 404, "{text}");
            problem(404, &ct, &text);
            answers.push(text.replace(ws.as_str(), "ID"));
        }
        assert_eq!(answers[0], answers[1]);
    }
    for (key, id) in [(&other_key, &theirs), (&server.org_key, &neighbour)] {
        let (status, _) = server
            .send(Method::GET, &format!("/v1/destinations/{id}"), key, None)
            .await;
        assert_eq!(status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_lists_its_own_destinations_and_may_not_create_raw_ones() {
    let server = Server::start().await;
    let (token, ws) = server
        .customer(
            "cust_scoped_dest",
            Some(&[
                "templates:read",
                "sources:create",
                "destinations:read",
                "destinations:create",
                "destinations:update",
                "destinations:delete",
            ]),
        )
        .await;
    // The Stripe source's connection template makes the organization's warehouse here.
    server.create_source(&token).await;
    for prefix in PREFIXES {
        let (status, listed) = server
            .send(Method::GET, &format!("{prefix}/destinations"), &token, None)
            .await;
        assert_eq!(status, 200, "{listed}");
        let data = listed["data"].as_array().unwrap();
        assert_eq!(data.len(), 1);
        assert_eq!(data[0]["workspaceId"], ws.as_str());
        assert_eq!(data[0]["destinationType"], "s3");
        // It is the organization's: the customer may not change or delete it.
        let path = format!(
            "{prefix}/destinations/{}",
            data[0]["destinationId"].as_str().unwrap()
        );
        for (method, body) in [
            (Method::PATCH, Some(json!({"name": "mine"}))),
            (Method::DELETE, None),
        ] {
            let (status, ct, text) = server.send_raw(method, &path, &token, body).await;
            assert_eq!(status, 403, "{text}");
            problem(403, &ct, &text);
        }
        // Organization access only for a raw configuration.
        let (status, ct, text) = server
            .send_raw(
                Method::POST,
                &format!("{prefix}/destinations"),
                &token,
                Some(json!({"name": "raw", "workspaceId": ws, "configuration": dev_null()})),
            )
            .await;
        assert_eq!(status, 403, "{text}");
        problem(403, &ct, &text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_destination_requests_are_4xx_problems() {
    let server = Server::start().await;
    let ws = server.v1_workspace(&server.org_key, "cust_bad").await;
    let made = create(&server, "/v1", &server.org_key, &ws, "Null").await;
    let id = made["destinationId"].as_str().unwrap().to_owned();
    let key = server.org_key.clone();
    for prefix in PREFIXES {
        let all = format!("{prefix}/destinations");
        let one = format!("{prefix}/destinations/{id}");
        let cases: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("{all}?workspaceId={ws}"), None),
            (Method::GET, format!("{all}?limit=abc"), None),
            (
                Method::GET,
                format!("{one}?includeSecretCoordinates=1"),
                None,
            ),
            (Method::GET, format!("{all}/123"), None),
            (Method::POST, all.clone(), Some(json!({"name": "x"}))),
            (
                Method::POST,
                all.clone(),
                Some(json!({"name": "x", "workspaceId": ws,
                            "configuration": {"sourceType": "faker"}})),
            ),
            (
                Method::POST,
                all.clone(),
                Some(json!({"name": "x", "workspaceId": ws, "definitionId": "s3",
                            "configuration": dev_null()})),
            ),
            (
                Method::PATCH,
                one.clone(),
                Some(json!({"configuration": {"destinationType": "s3"}})),
            ),
            (Method::PATCH, one.clone(), Some(json!({"secretId": "x"}))),
            (Method::PUT, one.clone(), Some(json!({"configuration": {}}))),
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
        .send(Method::GET, &format!("/v1/destinations/{id}"), &key, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(got, made);
}
