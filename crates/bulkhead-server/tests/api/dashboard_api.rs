//! The dashboard's session and workspace routes over real HTTP: sign-in by org key or client
//! credentials, the cookie's flags, CSRF on unsafe methods, the cookie refused where a scoped
//! token is wanted, idle expiry, sign-out, a revoked key ending its sessions, another
//! organization's workspace not found over the cookie, and the workspace page's routes
//! (7-day figures and external id search, recent runs, revoke tokens, merge, audit events).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::support;

use std::time::Duration;

use bulkhead::{ConnectionId, Page, SyncOutcome, WorkspaceId};
use reqwest::Method;
use serde_json::{Value, json};
use support::{Server, problem};

/// A signed-in dashboard: the cookie header's value and the CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

/// Signs in with `body`; the answer's status, `Set-Cookie` and JSON.
async fn sign_in_raw(server: &Server, body: Value) -> (u16, Option<String>, Value) {
    let res = server
        .http
        .post(server.url("/api/v1/dashboard/session"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let cookie = res
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, cookie, res.json().await.unwrap_or(Value::Null))
}

async fn sign_in(server: &Server, key: &str) -> Session {
    let (status, set_cookie, body) = sign_in_raw(server, json!({"org_key": key})).await;
    assert_eq!(status, 201, "{body}");
    let set_cookie = set_cookie.unwrap();
    let pair = set_cookie.split(';').next().unwrap().trim().to_owned();
    Session {
        cookie: pair,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
    }
}

/// Sends a request with the session cookie (and the CSRF token when `csrf`), no
/// `Authorization`; (status, JSON or problem).
async fn call(
    server: &Server,
    session: &Session,
    method: Method,
    path: &str,
    body: Option<Value>,
    csrf: Option<&str>,
) -> (u16, Value) {
    let mut req = server
        .http
        .request(method, server.url(path))
        .header("cookie", &session.cookie);
    if let Some(token) = csrf {
        req = req.header("x-csrf-token", token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = res.text().await.unwrap();
    if status >= 400 {
        problem(status, &ct, &text);
    }
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get(server: &Server, session: &Session, path: &str) -> (u16, Value) {
    call(server, session, Method::GET, path, None, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_an_org_key_sets_a_strict_cookie_and_answers_the_csrf_token() {
    let server = Server::start().await;
    let (status, set_cookie, body) = sign_in_raw(&server, json!({"org_key": server.org_key})).await;
    assert_eq!(status, 201, "{body}");
    let set_cookie = set_cookie.unwrap();
    let value = set_cookie
        .strip_prefix("bulkhead_session=")
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    assert_eq!(value.len(), 43, "256 bits in base64url: {set_cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(flag), "{flag} missing: {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain http: {set_cookie}");
    assert_eq!(body["organization"]["name"], "Acme");
    assert_eq!(body["idle_timeout_seconds"], 1800);
    let csrf = body["csrf_token"].as_str().unwrap();
    assert!(csrf.len() >= 43);
    let text = body.to_string();
    assert!(!text.contains(&server.org_key) && !text.contains(value));

    let session = sign_in(&server, &server.org_key).await;
    // A reload gets the same CSRF token back.
    let (status, again) = get(&server, &session, "/api/v1/dashboard/session").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["csrf_token"].as_str().unwrap(), session.csrf);
    // The cookie is a credential of the organization's routes.
    let (status, page) = get(&server, &session, "/api/v1/workspaces").await;
    assert_eq!(status, 200, "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_by_client_credentials_and_wrong_credentials_get_one_401_without_a_cookie() {
    let server = Server::start().await;
    let id = server.client_id(&server.org_key);
    let (status, cookie, body) = sign_in_raw(
        &server,
        json!({"client_id": id, "client_secret": server.org_key}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(cookie.is_some());

    let other = server.other_org();
    for body in [
        json!({"org_key": "bh_org_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
        json!({"org_key": "not a key"}),
        json!({"client_id": id, "client_secret": other}),
        json!({"client_id": "not-a-uuid", "client_secret": server.org_key}),
    ] {
        let (status, cookie, answer) = sign_in_raw(&server, body).await;
        assert_eq!(status, 401, "{answer}");
        assert!(cookie.is_none());
        assert!(!answer.to_string().contains("bh_org_"), "{answer}");
    }
    let (status, cookie, _) = sign_in_raw(
        &server,
        json!({"org_key": server.org_key, "client_id": id, "client_secret": server.org_key}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(cookie.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsafe_request_with_the_cookie_needs_the_csrf_token() {
    let server = Server::start().await;
    let (_, id) = server.customer("cust-1", None).await;
    let session = sign_in(&server, &server.org_key).await;
    let path = format!("/api/v1/workspaces/{id}");
    let patch = || Some(json!({"name": "renamed"}));
    let (status, body) = call(&server, &session, Method::PATCH, &path, patch(), None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["type"], "urn:bulkhead:problem:csrf");
    let wrong = format!("{}x", session.csrf);
    let (status, _) = call(
        &server,
        &session,
        Method::PATCH,
        &path,
        patch(),
        Some(&wrong),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = call(
        &server,
        &session,
        Method::PATCH,
        &path,
        patch(),
        Some(&session.csrf),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "renamed");
    // Never echoed.
    assert!(!body.to_string().contains(&session.csrf));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_reaches_the_v1_routes_and_never_a_scoped_token_route() {
    let server = Server::start().await;
    let (token, id) = server.customer("cust-1", None).await;
    server.create_source(&token).await;
    let session = sign_in(&server, &server.org_key).await;
    let (status, body) = get(
        &server,
        &session,
        &format!("/v1/connections?workspaceIds={id}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let connection = body["data"][0]["connectionId"].as_str().unwrap().to_owned();
    let job = json!({"connectionId": connection, "jobType": "sync"});
    let (status, _) = call(
        &server,
        &session,
        Method::POST,
        "/v1/jobs",
        Some(job.clone()),
        None,
    )
    .await;
    assert_eq!(status, 403, "sync now without the CSRF token");
    let (status, body) = call(
        &server,
        &session,
        Method::POST,
        "/v1/jobs",
        Some(job),
        Some(&session.csrf),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    for path in [
        "/api/v1/embedded/sources",
        "/api/v1/embedded/source-templates",
    ] {
        let (status, body) = get(&server, &session, path).await;
        assert_eq!(status, 401, "{path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_after_its_idle_timeout_and_each_request_extends_it() {
    let config = support::default_config().session_idle_timeout(Duration::from_secs(2));
    let server = Server::start_configured(config).await;
    let session = sign_in(&server, &server.org_key).await;
    // Requests closer together than the timeout keep it alive past it.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let (status, _) = get(&server, &session, "/api/v1/workspaces/stats").await;
        assert_eq!(status, 200);
    }
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let (status, _) = get(&server, &session, "/api/v1/workspaces/stats").await;
    assert_eq!(status, 401);
    let (status, _) = get(&server, &session, "/api/v1/dashboard/session").await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_revokes_the_session_and_clears_the_cookie() {
    let server = Server::start().await;
    let session = sign_in(&server, &server.org_key).await;
    let (status, _) = call(
        &server,
        &session,
        Method::DELETE,
        "/api/v1/dashboard/session",
        None,
        None,
    )
    .await;
    assert_eq!(status, 403, "sign-out needs the CSRF token");
    let res = server
        .http
        .delete(server.url("/api/v1/dashboard/session"))
        .header("cookie", &session.cookie)
        .header("x-csrf-token", &session.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let cleared = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cleared.starts_with("bulkhead_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let (status, _) = get(&server, &session, "/api/v1/workspaces").await;
    assert_eq!(status, 401);
    let (status, _) = get(&server, &session, "/api/v1/dashboard/session").await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_org_key_ends_its_sessions() {
    let server = Server::start().await;
    let org = server.engine.authenticate_org(&server.org_key).unwrap();
    let (info, second) = org.create_key(None).unwrap();
    let session = sign_in(&server, second.expose()).await;
    let (status, _) = get(&server, &session, "/api/v1/workspaces").await;
    assert_eq!(status, 200);
    org.revoke_key(info.id).unwrap();
    let (status, _) = get(&server, &session, "/api/v1/workspaces").await;
    assert_eq!(status, 401);
    let (status, _) = get(&server, &session, "/api/v1/dashboard/session").await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_is_secure_when_the_server_is_reached_over_https() {
    let config = support::default_config().public_url("https://dash.example.com");
    let server = Server::start_configured(config).await;
    let (status, cookie, _) = sign_in_raw(&server, json!({"org_key": server.org_key})).await;
    assert_eq!(status, 201);
    assert!(cookie.unwrap().contains("; Secure"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organizations_workspace_is_not_found_over_the_cookie() {
    let server = Server::start().await;
    let other_key = server.other_org();
    let other = server.engine.authenticate_org(&other_key).unwrap();
    let foreign = other
        .get_or_create_workspace(&"theirs".parse().unwrap())
        .unwrap()
        .workspace
        .id
        .to_string();
    let (_, mine) = server.customer("mine", None).await;
    let session = sign_in(&server, &server.org_key).await;
    let csrf = Some(session.csrf.as_str());
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/workspaces/{foreign}"), None),
        (
            Method::GET,
            format!("/api/v1/workspaces/{foreign}/runs"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/workspaces/{foreign}"),
            Some(json!({"status": "inactive"})),
        ),
        (
            Method::POST,
            format!("/api/v1/workspaces/{foreign}/revoke-tokens"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/workspaces/{mine}/merge"),
            Some(json!({"from_workspace_id": foreign})),
        ),
        (
            Method::POST,
            format!("/api/v1/workspaces/{foreign}/merge"),
            Some(json!({"from_workspace_id": mine})),
        ),
        (
            Method::GET,
            format!("/api/v1/organization/audit?workspace_id={foreign}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/v1/workspaces/{foreign}"),
            None,
        ),
    ] {
        let (status, answer) = call(&server, &session, method.clone(), &path, body, csrf).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }
    let (_, overview) = get(&server, &session, "/api/v1/workspaces/overview").await;
    assert!(!overview.to_string().contains(&foreign));
    // Still there, still active.
    let theirs = other.get_workspace(foreign.parse().unwrap()).unwrap();
    assert_eq!(theirs.status.as_str(), "active");
}

/// A workspace with one connection (from the catalog's templates) and `runs` finished runs
/// of it, each `rows` rows; its id and connection.
async fn with_runs(server: &Server, external_id: &str, runs: u64) -> (String, ConnectionId) {
    let (token, id) = server.customer(external_id, None).await;
    server.create_source(&token).await;
    let org = server.engine.authenticate_org(&server.org_key).unwrap();
    let ws = org.workspace(id.parse::<WorkspaceId>().unwrap()).unwrap();
    let connection = ws.list_connections(&Page::first(10)).unwrap().items[0].id;
    for n in 0..runs {
        // Runs started in one millisecond tie on `started_at` and then order by their
        // random ids; a pause keeps "newest first" meaning the order they were made in.
        tokio::time::sleep(Duration::from_millis(2)).await;
        let run = ws.start_sync(connection).unwrap();
        let outcome = if n % 3 == 2 {
            SyncOutcome::Failed {
                error: "boom".to_owned(),
                rows: 0,
                bytes: 0,
            }
        } else {
            SyncOutcome::Succeeded {
                rows: 10,
                bytes: 100,
            }
        };
        ws.finish_sync(run.id, outcome).unwrap();
    }
    (id, connection)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_has_the_last_seven_days_and_searches_by_external_id_prefix() {
    let server = Server::start().await;
    with_runs(&server, "acme-1", 3).await;
    with_runs(&server, "acme-2", 0).await;
    server.customer("globex-1", None).await;
    let session = sign_in(&server, &server.org_key).await;
    let (status, page) = get(
        &server,
        &session,
        "/api/v1/workspaces/overview?external_id_prefix=acme-&limit=1",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let first = &page["data"][0];
    assert_eq!(first["external_id"], "acme-1");
    assert_eq!(first["rows_7d"], 20);
    assert_eq!(first["bytes_7d"], 200);
    assert_eq!(first["sources"], 1);
    let next = page["next"].as_str().unwrap();
    assert!(next.contains("external_id_prefix=acme-"), "{next}");
    let (_, page) = get(&server, &session, next).await;
    assert_eq!(page["data"][0]["external_id"], "acme-2");
    assert_eq!(page["data"][0]["rows_7d"], 0);
    assert!(page["next"].is_null());
    let (status, _) = get(
        &server,
        &session,
        "/api/v1/workspaces/overview?external_id_prefix=a%01",
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_runs_come_newest_first_with_failures_marked() {
    let server = Server::start().await;
    let (id, connection) = with_runs(&server, "acme-1", 5).await;
    let session = sign_in(&server, &server.org_key).await;
    let (status, runs) = get(
        &server,
        &session,
        &format!("/api/v1/workspaces/{id}/runs?limit=4"),
    )
    .await;
    assert_eq!(status, 200, "{runs}");
    let runs = runs["data"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    let started: Vec<&str> = runs
        .iter()
        .map(|r| r["started_at"].as_str().unwrap())
        .collect();
    let mut sorted = started.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(started, sorted);
    assert!(
        runs.iter()
            .all(|r| r["connection_id"] == connection.to_string())
    );
    assert_eq!(runs.iter().filter(|r| r["error"] == true).count(), 1);
    assert!(runs.iter().all(|r| r["duration_ms"].is_u64()));
    for bad in ["0", "101", "x"] {
        let (status, _) = get(
            &server,
            &session,
            &format!("/api/v1/workspaces/{id}/runs?limit={bad}"),
        )
        .await;
        assert_eq!(status, 400, "limit={bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_workspaces_tokens_refuses_the_ones_issued_before() {
    let server = Server::start().await;
    let (token, id) = server.customer("acme-1", None).await;
    let session = sign_in(&server, &server.org_key).await;
    let (status, body) = call(
        &server,
        &session,
        Method::POST,
        &format!("/api/v1/workspaces/{id}/revoke-tokens"),
        None,
        Some(&session.csrf),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], id);
    let (status, _) = server
        .send(Method::GET, "/api/v1/embedded/sources", &token, None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merging_a_duplicate_by_external_id_moves_its_sources_and_runs() {
    let server = Server::start().await;
    let (into, _) = with_runs(&server, "acme", 1).await;
    let (from, _) = with_runs(&server, "acme-duplicate", 2).await;
    let session = sign_in(&server, &server.org_key).await;
    let path = format!("/api/v1/workspaces/{into}/merge");
    let (status, _) = call(
        &server,
        &session,
        Method::POST,
        &path,
        Some(json!({})),
        Some(&session.csrf),
    )
    .await;
    assert_eq!(status, 400);
    let (status, report) = call(
        &server,
        &session,
        Method::POST,
        &path,
        Some(json!({"from_external_id": "acme-duplicate"})),
        Some(&session.csrf),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["from"], from);
    assert_eq!(report["into"], into);
    assert_eq!(report["sources"], 1);
    assert_eq!(report["sync_runs"], 2);
    let (status, _) = get(&server, &session, &format!("/api/v1/workspaces/{from}")).await;
    assert_eq!(status, 404);
    let (_, runs) = get(
        &server,
        &session,
        &format!("/api/v1/workspaces/{into}/runs"),
    )
    .await;
    assert_eq!(runs["data"].as_array().unwrap().len(), 3);

    // The workspace's audit events, newest first.
    let (status, events) = get(
        &server,
        &session,
        &format!("/api/v1/organization/audit?workspace_id={into}&limit=5"),
    )
    .await;
    assert_eq!(status, 200, "{events}");
    let events = events["data"].as_array().unwrap();
    assert!(!events.is_empty() && events.len() <= 5);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]));
}
