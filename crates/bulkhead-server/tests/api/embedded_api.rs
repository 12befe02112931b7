//! The Embedded API over real HTTP: the seed's curl, the scoped routes a token reaches, the
//! organization's workspace routes, which credential each route takes, and shutdown.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::support;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use support::{SEED_BODY, Server, problem};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_curl_body_verbatim_gets_a_token() {
    let server = Server::start().await;
    let send = || {
        server
            .http
            .post(server.url("/api/v1/embedded/scoped-token"))
            .header("Authorization", format!("Bearer {}", server.org_key))
            .header("Content-Type", "application/json")
            .body(SEED_BODY)
            .send()
    };
    let res = send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let first: Value = res.json().await.unwrap();
    assert!(first["token"].as_str().unwrap().split('.').count() == 3);
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["external_id"], "customer-unique-id-123");
    assert_eq!(first["expires_in"], 1200);
    assert_eq!(first["workspace_created"], true);
    assert!(first["expires_at"].as_str().unwrap().ends_with('Z'));
    uuid::Uuid::parse_str(first["workspace_id"].as_str().unwrap()).unwrap();

    let again: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(again["workspace_id"], first["workspace_id"]);
    assert_eq!(again["workspace_created"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_lifetime_and_modes_are_accepted() {
    let server = Server::start().await;
    let by_name = server
        .issue(
            &server.org_key,
            json!({"workspace_name": "cust_1", "expires_in": 300,
                   "selected_source_template_tags": ["production", "premium"],
                   "selected_source_template_tags_mode": "all"}),
        )
        .await;
    assert_eq!(by_name["expires_in"], 300);
    let by_user = server
        .issue(&server.org_key, json!({"external_user_id": "cust_1"}))
        .await;
    assert_eq!(by_user["workspace_id"], by_name["workspace_id"]);
    // `all` of production and premium: no template carries both.
    let token = by_user["token"].as_str().unwrap();
    let (status, templates) = server
        .send(
            Method::GET,
            "/api/v1/embedded/source-templates",
            token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(templates["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_info_names_its_workspace() {
    let server = Server::start().await;
    let (token, workspace_id) = server.customer("cust_info", None).await;
    let (status, info) = server
        .send(
            Method::GET,
            "/api/v1/embedded/scoped-token/info",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(info["workspace_id"], workspace_id.as_str());
    assert_eq!(info["external_id"], "cust_info");
    assert_eq!(info["workspace_name"], "cust_info");
    assert!(info["organization_id"].is_string());
    assert!(
        info["operations"]
            .as_array()
            .unwrap()
            .contains(&json!("sources:create"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_sees_only_the_templates_its_tags_allow() {
    let server = Server::start().await;
    let (token, _) = server.customer("cust_tags", None).await;
    let (status, templates) = server
        .send(
            Method::GET,
            "/api/v1/embedded/source-templates",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let data = templates["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["name"], "Stripe");
    assert_eq!(data[0]["connector_name"], "stripe");
    assert_eq!(data[0]["tags"], json!(["production"]));
    assert_eq!(
        data[0]["user_config_spec"]["properties"]["api_key"]["airbyte_secret"],
        true
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_lifecycle_through_a_scoped_token() {
    let server = Server::start().await;
    let all = [
        "templates:read",
        "sources:read",
        "sources:create",
        "sources:update",
        "sources:delete",
    ];
    let (token, workspace_id) = server.customer("cust_life", Some(&all)).await;
    let created = server.create_source(&token).await;
    assert_eq!(created["workspace_id"], workspace_id.as_str());
    assert_eq!(created["source_config"]["api_key"], bulkhead::SECRET_MASK);
    assert_eq!(created["source_config"]["account"], "acct_1");
    assert_eq!(created["connector_name"], "stripe");
    assert_eq!(
        created["summarized_source_template"]["id"],
        created["source_template_id"]
    );
    assert_eq!(created["connections"].as_array().unwrap().len(), 1);
    assert_eq!(created["destinations"].as_array().unwrap().len(), 1);
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/embedded/sources/{id}");

    let (status, got) = server.send(Method::GET, &path, &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(got["name"], "My Stripe");

    let (status, page) = server
        .send(
            Method::GET,
            &format!("/api/v1/embedded/sources?workspace_id={workspace_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["next"], Value::Null);

    let (status, renamed) = server
        .send(
            Method::PUT,
            &path,
            &token,
            Some(json!({"name": "Renamed", "source_config": {"api_key": bulkhead::SECRET_MASK, "account": "acct_1"}})),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["name"], "Renamed");

    // The source is used by the connection its template made: deleting it is a conflict.
    let (status, conflict) = server.send(Method::DELETE, &path, &token, None).await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["status"], 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_without_connections_is_deleted() {
    let server = Server::start().await;
    // No connection tags selected that match: no connection is made.
    let answer = server
        .issue(
            &server.org_key,
            json!({"external_id": "cust_del",
                   "selected_source_template_tags": ["production"],
                   "selected_connection_template_tags": ["premium"],
                   "operations": ["templates:read", "sources:read", "sources:create", "sources:delete"]}),
        )
        .await;
    let token = answer["token"].as_str().unwrap();
    let created = server.create_source(token).await;
    assert_eq!(created["connections"], json!([]));
    let path = format!(
        "/api/v1/embedded/sources/{}",
        created["id"].as_str().unwrap()
    );
    let (status, deleted) = server.send(Method::DELETE, &path, token, None).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["id"], created["id"]);
    assert!(deleted["deleted_at"].is_string());
    let (status, _) = server.send(Method::GET, &path, token, None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_token_may_not_delete_a_source() {
    let server = Server::start().await;
    let (token, _) = server.customer("cust_nodel", None).await;
    let created = server.create_source(&token).await;
    let path = format!(
        "/api/v1/embedded/sources/{}",
        created["id"].as_str().unwrap()
    );
    let (status, ct, text) = server.send_raw(Method::DELETE, &path, &token, None).await;
    let body = problem(403, &ct, &text);
    assert!(body["detail"].as_str().unwrap().contains("sources:delete"));
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_workspaces_source_is_404_like_a_random_id() {
    let server = Server::start().await;
    let (alice, alice_ws) = server.customer("alice", None).await;
    let (bob, _) = server
        .customer(
            "bob",
            Some(&["sources:read", "sources:update", "sources:delete"]),
        )
        .await;
    let source = server.create_source(&alice).await;
    let foreign = format!(
        "/api/v1/embedded/sources/{}",
        source["id"].as_str().unwrap()
    );
    let random = format!("/api/v1/embedded/sources/{}", uuid::Uuid::new_v4());
    let update = json!({"name": "mine now"});
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(update.clone())),
        (Method::DELETE, None),
    ] {
        let a = server
            .send_raw(method.clone(), &foreign, &bob, body.clone())
            .await;
        let b = server.send_raw(method.clone(), &random, &bob, body).await;
        assert_eq!(a.0, 404, "{method} {}", a.2);
        problem(404, &a.1, &a.2);
        assert_eq!(
            a, b,
            "{method}: a foreign id must answer like a missing one"
        );
        assert!(!a.2.contains(source["id"].as_str().unwrap()));
    }
    // Naming Alice's workspace in a query is the same as naming a workspace that does not exist.
    let a = server
        .send_raw(
            Method::GET,
            &format!("/api/v1/embedded/sources?workspace_id={alice_ws}"),
            &bob,
            None,
        )
        .await;
    let b = server
        .send_raw(
            Method::GET,
            &format!(
                "/api/v1/embedded/sources?workspace_id={}",
                uuid::Uuid::new_v4()
            ),
            &bob,
            None,
        )
        .await;
    assert_eq!(a.0, 404);
    assert_eq!(a, b);
    // Alice still has her source, unchanged.
    let (status, got) = server.send(Method::GET, &foreign, &alice, None).await;
    assert_eq!(status, 200);
    assert_eq!(got["name"], "My Stripe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_route_refuses_the_other_kind_of_credential() {
    let server = Server::start().await;
    let (token, workspace_id) = server.customer("cust_kinds", None).await;
    let scoped_routes = [
        "/api/v1/embedded/scoped-token/info",
        "/api/v1/embedded/source-templates",
        "/api/v1/embedded/sources",
    ];
    for path in scoped_routes {
        let (status, ct, text) = server
            .send_raw(Method::GET, path, &server.org_key, None)
            .await;
        assert_eq!(status, 401, "{path}");
        problem(401, &ct, &text);
        assert!(!text.contains(&server.org_key));
    }
    for path in [
        "/api/v1/workspaces".to_owned(),
        format!("/api/v1/workspaces/{workspace_id}"),
    ] {
        let (status, ct, text) = server.send_raw(Method::GET, &path, &token, None).await;
        assert_eq!(status, 401, "{path}");
        problem(401, &ct, &text);
        assert!(!text.contains(&token));
    }
    let res = server
        .http
        .post(server.url("/api/v1/embedded/scoped-token"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(SEED_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_bad_credentials_are_401_with_www_authenticate() {
    let server = Server::start().await;
    for auth in [
        None,
        Some("Bearer"),
        Some("Bearer "),
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer bh_org_not_a_real_key"),
        Some("Bearer eyJhbGciOiJub25lIn0.e30."),
    ] {
        for path in ["/api/v1/workspaces", "/api/v1/embedded/sources"] {
            let mut req = server.http.get(server.url(path));
            if let Some(auth) = auth {
                req = req.header("Authorization", auth);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 401, "{auth:?} {path}");
            assert!(
                res.headers()["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer")
            );
            let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
            problem(401, &ct, &res.text().await.unwrap());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_page_by_cursor_and_filter_by_status() {
    let server = Server::start().await;
    for ext in ["c1", "c2", "c3"] {
        server.customer(ext, None).await;
    }
    let key = server.org_key.clone();
    let (status, first) = server
        .send(Method::GET, "/api/v1/workspaces?limit=2", &key, None)
        .await;
    assert_eq!(status, 200);
    let names: Vec<_> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["external_id"].clone())
        .collect();
    assert_eq!(names, [json!("c1"), json!("c2")]);
    assert_eq!(first["data"][0]["status"], "active");
    assert_eq!(first["data"][0]["tombstone"], false);
    let next = first["next"].as_str().unwrap();
    assert!(next.starts_with("/api/v1/workspaces?"), "{next}");
    let (status, second) = server.send(Method::GET, next, &key, None).await;
    assert_eq!(status, 200);
    assert_eq!(second["data"][0]["external_id"], "c3");
    assert_eq!(second["next"], Value::Null);

    let (status, inactive) = server
        .send(
            Method::GET,
            "/api/v1/workspaces?status=inactive",
            &key,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(inactive["data"], json!([]));
    let (status, active) = server
        .send(Method::GET, "/api/v1/workspaces?status=active", &key, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(active["data"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organizations_workspace_is_404_like_a_random_id() {
    let server = Server::start().await;
    let (_, workspace_id) = server.customer("cust_mine", None).await;
    let mine = server
        .get_ok(&format!("/api/v1/workspaces/{workspace_id}"))
        .await;
    assert_eq!(mine["external_id"], "cust_mine");
    assert_eq!(mine["id"], workspace_id.as_str());

    let globex = server.other_org();
    let a = server
        .send_raw(
            Method::GET,
            &format!("/api/v1/workspaces/{workspace_id}"),
            &globex,
            None,
        )
        .await;
    let b = server
        .send_raw(
            Method::GET,
            &format!("/api/v1/workspaces/{}", uuid::Uuid::new_v4()),
            &globex,
            None,
        )
        .await;
    assert_eq!(a.0, 404);
    problem(404, &a.1, &a.2);
    assert_eq!(a, b);
    let (_, listed) = server
        .send(Method::GET, "/api/v1/workspaces", &globex, None)
        .await;
    assert_eq!(listed["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_drains_requests_in_flight() {
    let mut server = Server::start_with(|router| {
        router.route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(600)).await;
                "done"
            }),
        )
    })
    .await;
    let http = server.http.clone();
    let url = server.url("/slow");
    let in_flight = tokio::spawn(async move { http.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    server.stop().await.unwrap();
    let res = in_flight.await.unwrap().unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "done");
    // Stopped: a new request finds nobody listening.
    assert!(
        reqwest::Client::new()
            .get(server.url("/api/v1/workspaces"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_for_one_customer_get_one_workspace() {
    let server = Server::start().await;
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let req = server
            .http
            .post(server.url("/api/v1/embedded/scoped-token"))
            .bearer_auth(&server.org_key)
            .header("content-type", "application/json")
            .body(SEED_BODY);
        requests.spawn(async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        });
    }
    let answers = requests.join_all().await;
    let workspace = &answers[0]["workspace_id"];
    assert!(answers.iter().all(|a| &a["workspace_id"] == workspace));
    let created = answers
        .iter()
        .filter(|a| a["workspace_created"] == true)
        .count();
    assert_eq!(created, 1);
}
