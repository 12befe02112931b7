//! The organization's workspace routes over real HTTP: `/api/v1/workspaces` (list with
//! `name_contains` and `status` in cursor pages, stats, overview, get, update, delete), which
//! credential each takes, and another organization's ids answered like missing ones.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::support;

use bulkhead::{SyncOutcome, WorkspaceId};
use reqwest::Method;
use serde_json::{Value, json};
use support::{Server, problem};

/// The external ids of a list page, in order.
fn external_ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["external_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every page of `path` (following `next`), with `credential`; the external ids in order.
async fn walk(server: &Server, path: &str, credential: &str) -> Vec<String> {
    let mut got = Vec::new();
    let mut next = path.to_owned();
    for _ in 0..100 {
        let (status, page) = server.send(Method::GET, &next, credential, None).await;
        assert_eq!(status, 200, "{next}: {page}");
        got.extend(external_ids(&page));
        match page["next"].as_str() {
            Some(link) => next = link.to_owned(),
            None => return got,
        }
    }
    panic!("more than 100 pages");
}

/// Workspaces `c1`.. with these names, made by scoped-token requests; their ids.
async fn named(server: &Server, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (_, id) = server.customer(&format!("c{}", i + 1), None).await;
        let (status, body) = server
            .send(
                Method::PATCH,
                &format!("/api/v1/workspaces/{id}"),
                &server.org_key,
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["name"], *name);
        ids.push(id);
    }
    ids
}

async fn set_status(server: &Server, id: &str, status: &str) -> Value {
    let (code, body) = server
        .send(
            Method::PATCH,
            &format!("/api/v1/workspaces/{id}"),
            &server.org_key,
            Some(json!({"status": status})),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], status);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_contains_and_status_filter_across_cursor_pages() {
    let server = Server::start().await;
    let ids = named(
        &server,
        &["Alpha Corp", "beta CORP", "Gamma", "Delta corp", "50% off"],
    )
    .await;
    let key = server.org_key.clone();
    for limit in [1, 2, 20] {
        let path = format!("/api/v1/workspaces?name_contains=corp&limit={limit}");
        assert_eq!(
            walk(&server, &path, &key).await,
            ["c1", "c2", "c4"],
            "limit {limit}"
        );
    }
    // The next link carries the filters.
    let (_, first) = server
        .send(
            Method::GET,
            "/api/v1/workspaces?name_contains=CoRp&status=active&limit=1",
            &key,
            None,
        )
        .await;
    let next = first["next"].as_str().unwrap();
    assert!(next.contains("name_contains=CoRp"), "{next}");
    assert!(next.contains("status=active"), "{next}");

    set_status(&server, &ids[1], "inactive").await;
    assert_eq!(
        walk(
            &server,
            "/api/v1/workspaces?name_contains=corp&status=active&limit=1",
            &key
        )
        .await,
        ["c1", "c4"]
    );
    assert_eq!(
        walk(&server, "/api/v1/workspaces?status=inactive", &key).await,
        ["c2"]
    );
    // `%` is a character like any other, and the whole list is unfiltered.
    assert_eq!(
        walk(&server, "/api/v1/workspaces?name_contains=%25", &key).await,
        ["c5"]
    );
    assert_eq!(
        walk(&server, "/api/v1/workspaces?limit=2", &key).await,
        ["c1", "c2", "c3", "c4", "c5"]
    );
    // An access token lists the same.
    let access = server.access_token().await;
    assert_eq!(
        walk(&server, "/api/v1/workspaces?name_contains=corp", &access).await,
        ["c1", "c2", "c4"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_live_workspaces_by_status() {
    let server = Server::start().await;
    let ids = named(&server, &["a", "b", "c", "d"]).await;
    set_status(&server, &ids[0], "inactive").await;
    let (status, _) = server
        .send(
            Method::DELETE,
            &format!("/api/v1/workspaces/{}", ids[3]),
            &server.org_key,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let stats = server.get_ok("/api/v1/workspaces/stats").await;
    assert_eq!(
        stats,
        json!({"active_count": 2, "inactive_count": 1, "total_count": 3})
    );
    let globex = server.other_org();
    let (_, theirs) = server
        .send(Method::GET, "/api/v1/workspaces/stats", &globex, None)
        .await;
    assert_eq!(
        theirs,
        json!({"active_count": 0, "inactive_count": 0, "total_count": 0})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_patch_and_put_answer_the_workspace() {
    let server = Server::start().await;
    let (_, id) = server.customer("cust_edit", None).await;
    let key = server.org_key.clone();
    let path = format!("/api/v1/workspaces/{id}");
    let (status, got) = server.send(Method::GET, &path, &key, None).await;
    assert_eq!(status, 200);
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["name"], "cust_edit");
    assert_eq!(got["status"], "active");
    assert_eq!(got["cache_enabled"], Value::Null);

    let (status, renamed) = server
        .send(Method::PATCH, &path, &key, Some(json!({"name": "Edited"})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(renamed["name"], "Edited");
    assert_eq!(renamed["external_id"], "cust_edit");
    let (status, put) = server
        .send(
            Method::PUT,
            &path,
            &key,
            Some(json!({"name": "Put", "status": "inactive", "cache_enabled": null})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (put["name"].as_str(), put["status"].as_str()),
        (Some("Put"), Some("inactive"))
    );
    let (status, same) = server
        .send(Method::PATCH, &path, &key, Some(json!({})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(same["name"], "Put");
    let (_, got) = server.send(Method::GET, &path, &key, None).await;
    assert_eq!(got, same);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivating_refuses_the_workspaces_scoped_token_until_reactivated() {
    let server = Server::start().await;
    let (token, id) = server.customer("cust_pause", None).await;
    let created = server.create_source(&token).await;
    let connection = created["connections"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = server
        .send(Method::GET, "/api/v1/embedded/sources", &token, None)
        .await;
    assert_eq!(status, 200);

    set_status(&server, &id, "inactive").await;
    let (status, ct, text) = server
        .send_raw(Method::GET, "/api/v1/embedded/sources", &token, None)
        .await;
    // The engine refuses a token of an inactive workspace with `WorkspaceInactive`: 409.
    assert_eq!(status, 409, "{text}");
    let body = problem(409, &ct, &text);
    assert_eq!(body["type"], "urn:bulkhead:problem:workspace-inactive");
    assert!(!text.contains(&token));
    // Its connections are paused.
    let org = server.engine.authenticate_org(&server.org_key).unwrap();
    let ws = org.workspace(id.parse().unwrap()).unwrap();
    let paused = ws.get_connection(connection.parse().unwrap()).unwrap();
    assert_eq!(paused.status, bulkhead::ConnectionStatus::Inactive);

    set_status(&server, &id, "active").await;
    let (status, sources) = server
        .send(Method::GET, "/api/v1/embedded/sources", &token, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(sources["data"].as_array().unwrap().len(), 1);
    let ws = org.workspace(id.parse().unwrap()).unwrap();
    let resumed = ws.get_connection(connection.parse().unwrap()).unwrap();
    assert_eq!(resumed.status, bulkhead::ConnectionStatus::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_answers_id_and_time_then_the_workspace_is_gone() {
    let server = Server::start().await;
    let (token, id) = server.customer("cust_gone", None).await;
    server.customer("cust_stays", None).await;
    let key = server.org_key.clone();
    let path = format!("/api/v1/workspaces/{id}");
    let (status, deleted) = server.send(Method::DELETE, &path, &key, None).await;
    assert_eq!(status, 200);
    assert_eq!(deleted["id"], id.as_str());
    assert!(deleted["deleted_at"].is_string(), "{deleted}");

    // Not found now, on every route, like an id that never existed.
    let random = format!("/api/v1/workspaces/{}", WorkspaceId::random());
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let body = (method == Method::PATCH).then(|| json!({"name": "x"}));
        let gone = server
            .send_raw(method.clone(), &path, &key, body.clone())
            .await;
        let never = server.send_raw(method.clone(), &random, &key, body).await;
        assert_eq!(gone.0, 404, "{method}: {}", gone.2);
        problem(404, &gone.1, &gone.2);
        assert_eq!(gone, never, "{method}");
    }
    assert_eq!(
        walk(&server, "/api/v1/workspaces", &key).await,
        ["cust_stays"]
    );
    // Its token is refused (the credential no longer grants anything)...
    let (status, ct, text) = server
        .send_raw(Method::GET, "/api/v1/embedded/sources", &token, None)
        .await;
    assert_eq!(status, 401);
    problem(401, &ct, &text);
    // ...and its external id answers "deleted" (410) until the organization purges it.
    let res = server
        .http
        .post(server.url("/api/v1/embedded/scoped-token"))
        .bearer_auth(&key)
        .json(&json!({"external_id": "cust_gone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 410);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_shows_sources_connections_and_last_sync_per_workspace() {
    let server = Server::start().await;
    let (token, id) = server.customer("cust_busy", None).await;
    server.customer("cust_idle", None).await;
    let created = server.create_source(&token).await;
    let connection = created["connections"][0]["id"].as_str().unwrap().to_owned();
    let org = server.engine.authenticate_org(&server.org_key).unwrap();
    let ws = org.workspace(id.parse().unwrap()).unwrap();
    let run = ws.start_sync(connection.parse().unwrap()).unwrap();
    ws.finish_sync(run.id, SyncOutcome::Succeeded { rows: 7, bytes: 70 })
        .unwrap();

    let key = server.org_key.clone();
    let (status, first) = server
        .send(
            Method::GET,
            "/api/v1/workspaces/overview?limit=1",
            &key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{first}");
    let busy = &first["data"][0];
    assert_eq!(busy["workspace_id"], id.as_str());
    assert_eq!(busy["external_id"], "cust_busy");
    assert_eq!(busy["status"], "active");
    assert_eq!(busy["sources"], 1);
    assert_eq!(busy["connections"], 1);
    assert_eq!(busy["rows_synced"], 7);
    assert_eq!(busy["bytes_synced"], 70);
    assert_eq!(busy["last_sync"]["status"], "succeeded");
    assert_eq!(busy["last_sync"]["id"], run.id.to_string());
    assert_eq!(busy["latest_runs"][0]["connection_id"], connection.as_str());
    assert_eq!(busy["latest_runs"][0]["last_run"]["status"], "succeeded");

    let next = first["next"].as_str().unwrap();
    assert!(next.starts_with("/api/v1/workspaces/overview?"), "{next}");
    let (status, second) = server.send(Method::GET, next, &key, None).await;
    assert_eq!(status, 200);
    let idle = &second["data"][0];
    assert_eq!(idle["external_id"], "cust_idle");
    assert_eq!(idle["sources"], 0);
    assert_eq!(idle["last_sync"], Value::Null);
    assert_eq!(second["next"], Value::Null);

    // The filters of the list apply.
    let (_, filtered) = server
        .send(
            Method::GET,
            "/api/v1/workspaces/overview?name_contains=IDLE&status=active",
            &key,
            None,
        )
        .await;
    assert_eq!(external_ids(&filtered), ["cust_idle"]);
    let globex = server.other_org();
    let (_, theirs) = server
        .send(Method::GET, "/api/v1/workspaces/overview", &globex, None)
        .await;
    assert_eq!(theirs["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_parameters_are_400_naming_the_parameter() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    for base in ["/api/v1/workspaces", "/api/v1/workspaces/overview"] {
        for (query, field) in [
            ("foo=1", "foo"),
            ("workspace_id=x", "workspace_id"),
            ("status=deleted", "status"),
            ("status=", "status"),
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=ten", "limit"),
            ("cursor=AAAA", "cursor"),
            ("cursor=%%%", "cursor"),
            ("name_contains=a&name_contains=b", "name_contains"),
            ("name_contains=a%00b", "name_contains"),
        ] {
            let path = format!("{base}?{query}");
            let (status, ct, text) = server.send_raw(Method::GET, &path, &key, None).await;
            assert_eq!(status, 400, "{path}: {text}");
            let body = problem(400, &ct, &text);
            assert_eq!(body["field"], field, "{path}: {text}");
        }
    }
    let (status, ct, text) = server
        .send_raw(
            Method::GET,
            "/api/v1/workspaces/stats?status=active",
            &key,
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(problem(400, &ct, &text)["field"], "status");
    // A source list's cursor does not page workspaces.
    let (token, _) = server.customer("cust_cursor", None).await;
    server.create_source(&token).await;
    server.create_source(&token).await;
    let (_, sources) = server
        .send(
            Method::GET,
            "/api/v1/embedded/sources?limit=1",
            &token,
            None,
        )
        .await;
    let cursor = sources["next"]
        .as_str()
        .unwrap()
        .split("cursor=")
        .nth(1)
        .unwrap();
    let (status, ct, text) = server
        .send_raw(
            Method::GET,
            &format!("/api/v1/workspaces?cursor={cursor}"),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 400, "{text}");
    assert_eq!(problem(400, &ct, &text)["field"], "cursor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_update_bodies_are_4xx_naming_the_field_and_change_nothing() {
    let server = Server::start().await;
    let (_, id) = server.customer("cust_body", None).await;
    let key = server.org_key.clone();
    let path = format!("/api/v1/workspaces/{id}");
    let (_, before) = server.send(Method::GET, &path, &key, None).await;
    for (body, status, field) in [
        (json!({"status": "deleted"}), 400, "status"),
        (json!({"status": 1}), 400, "status"),
        (json!({"name": ""}), 400, "name"),
        (json!({"name": " padded"}), 400, "name"),
        (json!({"name": "ok", "status": "paused"}), 400, "status"),
        (json!({"name": "ok", "color": "red"}), 400, "color"),
        (
            json!({"name": "ok", "cache_enabled": true}),
            422,
            "cache_enabled",
        ),
    ] {
        let (got, ct, text) = server
            .send_raw(Method::PATCH, &path, &key, Some(body.clone()))
            .await;
        assert_eq!(got, status, "{body}: {text}");
        assert_eq!(problem(status, &ct, &text)["field"], field, "{body}");
    }
    let res = server
        .http
        .patch(server.url(&path))
        .bearer_auth(&key)
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    let (status, ct, text) = server
        .send_raw(
            Method::PATCH,
            "/api/v1/workspaces/not-a-uuid",
            &key,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(problem(400, &ct, &text)["field"], "workspace_id");
    let (_, after) = server.send(Method::GET, &path, &key, None).await;
    assert_eq!(after, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organizations_workspace_is_404_on_every_route_and_stays_unchanged() {
    let server = Server::start().await;
    let (_, id) = server.customer("cust_acme", None).await;
    let key = server.org_key.clone();
    let path = format!("/api/v1/workspaces/{id}");
    let (_, before) = server.send(Method::GET, &path, &key, None).await;
    let globex = server.other_org();
    let random = format!("/api/v1/workspaces/{}", WorkspaceId::random());
    for (method, body) in [
        (Method::GET, None),
        (
            Method::PATCH,
            Some(json!({"name": "taken", "status": "inactive"})),
        ),
        (Method::PUT, Some(json!({"status": "inactive"}))),
        (Method::DELETE, None),
    ] {
        let foreign = server
            .send_raw(method.clone(), &path, &globex, body.clone())
            .await;
        let missing = server
            .send_raw(method.clone(), &random, &globex, body)
            .await;
        assert_eq!(foreign.0, 404, "{method}: {}", foreign.2);
        problem(404, &foreign.1, &foreign.2);
        assert_eq!(foreign, missing, "{method}");
        assert!(!foreign.2.contains(&id));
    }
    let (_, after) = server.send(Method::GET, &path, &key, None).await;
    assert_eq!(after, before);
    for listing in ["/api/v1/workspaces", "/api/v1/workspaces/overview"] {
        let (_, theirs) = server.send(Method::GET, listing, &globex, None).await;
        assert_eq!(theirs["data"], json!([]), "{listing}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_token_is_refused_on_every_workspace_route() {
    let server = Server::start().await;
    let (token, id) = server.customer("cust_scoped", None).await;
    let one = format!("/api/v1/workspaces/{id}");
    for (method, path) in [
        (Method::GET, "/api/v1/workspaces"),
        (Method::GET, "/api/v1/workspaces/stats"),
        (Method::GET, "/api/v1/workspaces/overview"),
        (Method::GET, one.as_str()),
        (Method::PATCH, one.as_str()),
        (Method::PUT, one.as_str()),
        (Method::DELETE, one.as_str()),
    ] {
        let body = matches!(method, Method::PATCH | Method::PUT).then(|| json!({"name": "x"}));
        let (status, ct, text) = server.send_raw(method.clone(), path, &token, body).await;
        assert_eq!(status, 401, "{method} {path}: {text}");
        problem(401, &ct, &text);
        assert!(!text.contains(&token));
    }
    // Nothing changed.
    let got = server.get_ok(&one).await;
    assert_eq!(got["name"], "cust_scoped");
}
