//! Worker keys over HTTP: made by `POST /api/v1/organization/keys {"role": "worker"}` and
//! listed with their role; taken by the worker protocol's three routes, with claims audited
//! under the key; answered with a 403 problem by every other route of the route table, by the
//! client-credentials exchange and by the dashboard's sign-in; refused with a 401 once
//! revoked; and named by the OpenAPI document for the worker protocol only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::support;

use bulkhead::{AuditFilter, Page, SyncRunId};
use reqwest::Method;
use serde_json::{Value, json};
use support::routes::{self, Auth, Route};
use support::{SECRET, Server, problem};

/// A worker key made through the API with the server's org key: (its id, the key).
async fn worker_key(server: &Server) -> (String, String) {
    let (status, body) = server
        .send(
            Method::POST,
            "/api/v1/organization/keys",
            &server.org_key,
            Some(json!({"role": "worker"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["key"]["role"], "worker", "{body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("bh_wkr_"), "a worker key's prefix");
    (body["key"]["id"].as_str().unwrap().to_owned(), secret)
}

/// A customer with a source (holding [`SECRET`]) and its connection, and a sync of it queued
/// through the library; the job's run id.
async fn queued_job(server: &Server, external_id: &str) -> SyncRunId {
    let (token, _) = server.customer(external_id, None).await;
    server.create_source(&token).await;
    let engine = server.engine.clone();
    let org_key = server.org_key.clone();
    let external_id = external_id.to_owned();
    tokio::task::spawn_blocking(move || {
        let org = engine.authenticate_org(&org_key).unwrap();
        let ws = org
            .workspace_by_external_id(&external_id.parse().unwrap())
            .unwrap();
        let scope = org.workspace(ws.id).unwrap();
        let connection = scope.list_connections(&Page::first(10)).unwrap().items[0].id;
        scope.queue_sync(connection).unwrap().run.id
    })
    .await
    .unwrap()
}

/// Asserts that an answer is the 403 problem of a worker key used where it may not be.
#[track_caller]
fn assert_refused_worker_key(what: &str, status: u16, content_type: &str, text: &str) {
    assert_eq!(status, 403, "{what}: {text}");
    let body = problem(403, content_type, text);
    assert_eq!(
        body["type"], "urn:bulkhead:problem:permission-denied",
        "{what}"
    );
    assert!(
        body["detail"].as_str().unwrap().contains("worker key"),
        "{what}: the detail says why: {text}"
    );
    assert!(!text.contains("bh_wkr_"), "{what}: the key is never echoed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_the_worker_protocol_answers_a_worker_key_with_a_403_problem() {
    let server = Server::start().await;
    let (_, key) = worker_key(&server).await;
    let mut walked = 0;
    for (route, path) in routes::all() {
        if route.auth == Auth::Worker {
            continue;
        }
        let path = Route::with_id(&path, &uuid::Uuid::new_v4().to_string());
        let body = matches!(route.method, "POST" | "PUT" | "PATCH").then(|| json!({}));
        let (status, content_type, text) = server
            .send_raw(route.method.parse().unwrap(), &path, &key, body)
            .await;
        assert_refused_worker_key(
            &format!("{} {path}", route.method),
            status,
            &content_type,
            &text,
        );
        walked += 1;
    }
    assert_eq!(walked, routes::all().len() - 3, "every route but three");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_key_claims_heartbeats_and_completes_a_job_audited_as_itself() {
    let server = Server::start().await;
    let (_, key) = worker_key(&server).await;
    let (status, _) = server.claim(&key).await;
    assert_eq!(status, 204, "nothing queued yet");
    let run = queued_job(&server, "wk-a").await;

    let (status, job) = server.claim(&key).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["job"]["run_id"], run.to_string());
    assert!(
        job["source"]["configuration"].to_string().contains(SECRET),
        "the worker gets the configuration opened"
    );
    let hold = json!({"workspace_id": job["job"]["workspace_id"],
                      "fencing_token": job["job"]["fencing_token"]});
    let (status, beat) = server
        .send(
            Method::POST,
            &format!("/api/v1/jobs/{}/heartbeat", job["job"]["id"]),
            &key,
            Some(hold.clone()),
        )
        .await;
    assert_eq!(status, 200, "{beat}");
    let mut done = hold;
    done["status"] = json!("succeeded");
    done["rows"] = json!(7);
    let (status, finished) = server
        .send(
            Method::POST,
            &format!("/api/v1/jobs/{}/complete", job["job"]["id"]),
            &key,
            Some(done),
        )
        .await;
    assert_eq!(status, 200, "{finished}");
    assert_eq!(finished["status"], "succeeded");

    let engine = server.engine.clone();
    let org_key = server.org_key.clone();
    let prefix = key[..15].to_owned();
    let actors = tokio::task::spawn_blocking(move || {
        let org = engine.authenticate_org(&org_key).unwrap();
        org.audit_events(&AuditFilter::default(), &Page::first(100))
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.draft.action == "job.claim" || e.draft.action == "sync.finish")
            .map(|e| e.draft.actor)
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(actors.len(), 2, "{actors:?}");
    assert!(
        actors.iter().all(|a| *a == format!("worker-key:{prefix}")),
        "{actors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_key_gets_no_access_token_and_no_dashboard_session() {
    let server = Server::start().await;
    let (_, key) = worker_key(&server).await;
    let client_id = server.client_id(&server.org_key);
    for path in [
        "/v1/applications/token",
        "/api/public/v1/applications/token",
        "/api/v1/account/applications/token",
        "/applications/token",
    ] {
        let res = server
            .http
            .post(server.url(path))
            .json(&json!({"client_id": client_id, "client_secret": key}))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
        let text = res.text().await.unwrap();
        assert_refused_worker_key(path, status, &content_type, &text);
    }
    for body in [
        json!({"org_key": key}),
        json!({"client_id": client_id, "client_secret": key}),
    ] {
        let res = server
            .http
            .post(server.url("/api/v1/dashboard/session"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.headers().get("set-cookie").is_none(), "no session");
        let status = res.status().as_u16();
        let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
        let text = res.text().await.unwrap();
        assert_refused_worker_key("sign-in", status, &content_type, &text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_listed_with_their_role_and_a_revoked_worker_key_is_a_401() {
    let server = Server::start().await;
    let (id, key) = worker_key(&server).await;
    let listed = server.get_ok("/api/v1/organization/keys").await;
    let roles: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["organization", "worker"]);
    let (status, body) = server
        .send(
            Method::POST,
            "/api/v1/organization/keys",
            &server.org_key,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "role");

    assert_eq!(server.claim(&key).await.0, 204);
    let (status, body) = server
        .send(
            Method::DELETE,
            &format!("/api/v1/organization/keys/{id}"),
            &server.org_key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.claim(&key).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_names_the_worker_key_for_the_worker_protocol_only() {
    let server = Server::start().await;
    let doc: Value = server
        .http
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["components"]["securitySchemes"]["worker_key"].is_object(),
        "the scheme is declared"
    );
    let mut job_routes = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let names_worker_key = operation["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("worker_key").is_some()));
            let is_job_route = path.starts_with("/api/v1/jobs/");
            assert_eq!(names_worker_key, is_job_route, "{method} {path}");
            job_routes += usize::from(is_job_route);
        }
    }
    assert_eq!(job_routes, 3);
}
