//! The engine's refusals as HTTP answers: rate limited 429 with `Retry-After`, an inactive
//! workspace 409, a deleted one 410; and the server's own, a request over its time 408.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::support;

use std::time::Duration;

use bulkhead::{OrgSettings, WorkspaceStatus, WorkspaceUpdate};
use reqwest::Method;
use serde_json::json;
use support::{Server, problem};

async fn ask(server: &Server, key: &str, external_id: &str) -> reqwest::Response {
    server
        .http
        .post(server.url("/api/v1/embedded/scoped-token"))
        .bearer_auth(key)
        .json(&json!({"external_id": external_id}))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_workspaces_too_fast_is_429_with_retry_after() {
    let server = Server::start().await;
    let settings = OrgSettings {
        workspace_creation_burst: 1,
        workspace_creation_rate: 1,
        ..OrgSettings::default()
    };
    let (_, key) = server
        .engine
        .create_organization_with("Slow", settings)
        .unwrap();
    let key = key.expose().to_owned();
    assert_eq!(ask(&server, &key, "first").await.status(), 200);
    let res = ask(&server, &key, "second").await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    problem(429, &ct, &res.text().await.unwrap());
    // An existing workspace is never limited.
    assert_eq!(ask(&server, &key, "first").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inactive_workspace_is_409() {
    let server = Server::start().await;
    let (token, workspace_id) = server.customer("cust_paused", None).await;
    let org = server.engine.authenticate_org(&server.org_key).unwrap();
    org.update_workspace(
        workspace_id.parse().unwrap(),
        &WorkspaceUpdate {
            status: Some(WorkspaceStatus::Inactive),
            ..WorkspaceUpdate::default()
        },
    )
    .unwrap();
    let res = ask(&server, &server.org_key, "cust_paused").await;
    assert_eq!(res.status(), 409);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    let body = problem(409, &ct, &res.text().await.unwrap());
    assert_eq!(body["title"], "workspace inactive");
    // The token issued before is refused too, as a problem (never a 5xx).
    let (status, ct, text) = server
        .send_raw(Method::GET, "/api/v1/embedded/sources", &token, None)
        .await;
    assert!(status == 401 || status == 409, "{status} {text}");
    problem(status, &ct, &text);
    let listed = server.get_ok("/api/v1/workspaces?status=inactive").await;
    assert_eq!(listed["data"][0]["external_id"], "cust_paused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_workspace_is_410_and_its_token_401() {
    let server = Server::start().await;
    let (token, workspace_id) = server.customer("cust_gone", None).await;
    let org = server.engine.authenticate_org(&server.org_key).unwrap();
    org.delete_workspace(workspace_id.parse().unwrap()).unwrap();
    let res = ask(&server, &server.org_key, "cust_gone").await;
    assert_eq!(res.status(), 410);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    problem(410, &ct, &res.text().await.unwrap());
    let (status, ct, text) = server
        .send_raw(Method::GET, "/api/v1/embedded/sources", &token, None)
        .await;
    assert_eq!(status, 401, "{text}");
    problem(401, &ct, &text);
    let (status, _) = server
        .send(
            Method::GET,
            &format!("/api/v1/workspaces/{workspace_id}"),
            &server.org_key,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_timeout_is_408_problem() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let server = Server::start_configured(
        bulkhead_server::ServerConfig::default().request_timeout(Duration::from_millis(300)),
    )
    .await;
    // A body announced but never sent in full: the handler waits for it until the timeout.
    let addr = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/embedded/scoped-token HTTP/1.1\r\nHost: bulkhead\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"external_id\"",
        server.org_key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0_u8; 4096];
    // Read until the head and the problem body are in (the server may keep the socket open).
    let read = async {
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            answer.extend_from_slice(&buf[..n]);
            if n == 0 || String::from_utf8_lossy(&answer).contains("\"status\":408") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the server answered within the timeout");
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{answer}"
    );
}
