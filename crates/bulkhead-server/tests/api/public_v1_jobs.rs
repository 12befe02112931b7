//! The Airbyte public API v1 jobs and organizations routes over HTTP: start, get, list and
//! cancel on both prefixes; a second start while one runs is a 409 `try-again-later`, a
//! cancel of an ended job a 409 `state-conflict`; another organization's or workspace's jobs
//! and connections answered like missing ones; a scoped token in its own workspace; bad
//! query parameters as 400 problems naming them; concurrent starts over HTTP, one winner, on
//! SQLite and on PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::support;

use bulkhead::postgres::{PgOptions, Roles, provision};
use bulkhead::{Config, Engine, MasterKey};
use bulkhead_testkit::pg::PgServer;
use postgres::{Client, NoTls};
use reqwest::Method;
use serde_json::{Value, json};
use support::{Server, problem};

const PREFIXES: [&str; 2] = ["/v1", "/api/public/v1"];

/// The largest job id: 2^53 - 1.
const MAX_JOB_ID: i64 = (1 << 53) - 1;

/// The operations of a customer's token that may read and start syncs.
const SYNC_OPS: [&str; 4] = [
    "connections:read",
    "syncs:read",
    "syncs:trigger",
    "sources:read",
];

/// A connection (faker to dev-null) in the workspace `ws`, made under `key`; its id.
async fn connection_in(server: &Server, key: &str, ws: &str) -> String {
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
    let (status, connection) = server
        .send(
            Method::POST,
            "/v1/connections",
            key,
            Some(json!({"sourceId": source["sourceId"],
                        "destinationId": destination["destinationId"]})),
        )
        .await;
    assert_eq!(status, 200, "{connection}");
    connection["connectionId"].as_str().unwrap().to_owned()
}

/// A new workspace named `name` with one connection, under `key`: (workspace, connection).
async fn workspace_with_connection(server: &Server, key: &str, name: &str) -> (String, String) {
    let ws = server.v1_workspace(key, name).await;
    let connection = connection_in(server, key, &ws).await;
    (ws, connection)
}

/// `POST {prefix}/jobs` of a sync; (status, body).
async fn start(server: &Server, prefix: &str, key: &str, connection: &str) -> (u16, Value) {
    server
        .send(
            Method::POST,
            &format!("{prefix}/jobs"),
            key,
            Some(json!({"connectionId": connection, "jobType": "sync"})),
        )
        .await
}

/// Starts a sync that must succeed; the job.
async fn started(server: &Server, prefix: &str, key: &str, connection: &str) -> Value {
    let (status, job) = start(server, prefix, key, connection).await;
    assert_eq!(status, 200, "{job}");
    job
}

/// `DELETE /v1/jobs/{id}` that must succeed; the job.
async fn cancelled(server: &Server, key: &str, job: &Value) -> Value {
    let (status, body) = server
        .send(
            Method::DELETE,
            &format!("/v1/jobs/{}", job["jobId"]),
            key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Asserts a 404 problem; its body.
async fn not_found(
    server: &Server,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> Value {
    let (status, content_type, text) = server.send_raw(method, path, key, body).await;
    assert_eq!(status, 404, "{text}");
    problem(404, &content_type, &text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_start_get_list_and_cancel_on_both_prefixes() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    for prefix in PREFIXES {
        let (ws, connection) =
            workspace_with_connection(&server, &key, &format!("jobs{}", prefix.len())).await;
        let job = started(&server, prefix, &key, &connection).await;
        // Every field the SDK requires, in its types.
        let id = job["jobId"].as_i64().unwrap();
        assert!((1..=MAX_JOB_ID).contains(&id), "{job}");
        // Queued: a worker runs it (`job_protocol.rs` follows a job through a claim).
        assert_eq!(job["status"], "pending");
        assert_eq!(job["jobType"], "sync");
        assert_eq!(job["connectionId"], connection.as_str());
        assert!(job["startTime"].as_str().unwrap().ends_with('Z'), "{job}");
        assert!(job.get("lastUpdatedAt").is_none(), "{job}");
        assert!(job.get("duration").is_none(), "{job}");
        assert_eq!(job["rowsSynced"], 0);
        assert_eq!(job["bytesSynced"], 0);

        let path = format!("{prefix}/jobs/{id}");
        let (status, got) = server.send(Method::GET, &path, &key, None).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(got, job);

        let (status, listed) = server
            .send(
                Method::GET,
                &format!("{prefix}/jobs?connectionId={connection}&limit=20&offset=0"),
                &key,
                None,
            )
            .await;
        assert_eq!(status, 200, "{listed}");
        assert_eq!(listed["data"], json!([job]));
        let (_, by_workspace) = server
            .send(
                Method::GET,
                &format!("{prefix}/jobs?workspaceIds={ws}"),
                &key,
                None,
            )
            .await;
        assert_eq!(by_workspace["data"], json!([job]));

        let (status, (content_type, text)) = {
            let (s, ct, t) = server.send_raw(Method::DELETE, &path, &key, None).await;
            (s, (ct, t))
        };
        assert_eq!(status, 200, "{text}");
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let done: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(done["jobId"], id);
        assert_eq!(done["status"], "cancelled");
        assert_eq!(done["startTime"], job["startTime"]);
        assert!(done["lastUpdatedAt"].is_string(), "{done}");
        assert!(
            done["duration"].as_str().unwrap().starts_with("PT"),
            "{done}"
        );

        let (status, got) = server.send(Method::GET, &path, &key, None).await;
        assert_eq!(status, 200);
        assert_eq!(got, done);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_start_while_a_job_runs_is_409_try_again_later() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let access = server.access_token().await;
    let (_, connection) = workspace_with_connection(&server, &key, "busy").await;
    let job = started(&server, "/v1", &key, &connection).await;
    for (prefix, credential) in [("/v1", &key), ("/api/public/v1", &access)] {
        let (status, content_type, text) = server
            .send_raw(
                Method::POST,
                &format!("{prefix}/jobs"),
                credential,
                Some(json!({"connectionId": connection, "jobType": "sync"})),
            )
            .await;
        assert_eq!(status, 409, "{text}");
        let body = problem(409, &content_type, &text);
        assert!(
            body["type"].as_str().unwrap().ends_with("try-again-later"),
            "{body}"
        );
        assert!(
            body["detail"].as_str().unwrap().contains("already running"),
            "{body}"
        );
    }
    // Still exactly one job, and once it ends a new one starts.
    let (_, listed) = server
        .send(
            Method::GET,
            &format!("/v1/jobs?connectionId={connection}"),
            &key,
            None,
        )
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    cancelled(&server, &access, &job).await;
    let next = started(&server, "/api/public/v1", &access, &connection).await;
    assert_ne!(next["jobId"], job["jobId"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_an_ended_job_is_409_state_conflict() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let (_, connection) = workspace_with_connection(&server, &key, "ended").await;
    let job = started(&server, "/v1", &key, &connection).await;
    let done = cancelled(&server, &key, &job).await;
    for prefix in PREFIXES {
        let path = format!("{prefix}/jobs/{}", job["jobId"]);
        let (status, content_type, text) = server.send_raw(Method::DELETE, &path, &key, None).await;
        let body = problem(409, &content_type, &text);
        assert!(
            body["type"].as_str().unwrap().ends_with("state-conflict"),
            "{body}"
        );
        assert_eq!(status, 409);
        // Nothing changed.
        let (_, got) = server.send(Method::GET, &path, &key, None).await;
        assert_eq!(got, done);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_types_other_than_sync_are_refused_saying_so() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let (_, connection) = workspace_with_connection(&server, &key, "types").await;
    for prefix in PREFIXES {
        for job_type in ["reset", "refresh", "clear"] {
            let (status, content_type, text) = server
                .send_raw(
                    Method::POST,
                    &format!("{prefix}/jobs"),
                    &key,
                    Some(json!({"connectionId": connection, "jobType": job_type})),
                )
                .await;
            let body = problem(422, &content_type, &text);
            assert_eq!(status, 422);
            assert_eq!(body["field"], "jobType", "{body}");
            let detail = body["detail"].as_str().unwrap();
            assert!(
                detail.contains(job_type) && detail.contains("sync"),
                "{body}"
            );
        }
        for (body, field) in [
            (
                json!({"connectionId": connection, "jobType": "backfill"}),
                "jobType",
            ),
            (
                json!({"connectionId": "nope", "jobType": "sync"}),
                "connectionId",
            ),
            (json!({"jobType": "sync"}), "connectionId"),
            (json!({"connectionId": connection}), "jobType"),
            (
                json!({"connectionId": connection, "jobType": "sync", "extra": 1}),
                "extra",
            ),
        ] {
            let (status, content_type, text) = server
                .send_raw(
                    Method::POST,
                    &format!("{prefix}/jobs"),
                    &key,
                    Some(body.clone()),
                )
                .await;
            let problem = problem(400, &content_type, &text);
            assert_eq!(status, 400);
            assert_eq!(problem["field"], field, "{body}: {problem}");
        }
    }
    // None of these started anything.
    let (_, listed) = server.send(Method::GET, "/v1/jobs", &key, None).await;
    assert_eq!(listed["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organizations_jobs_and_connections_are_not_found_like_missing_ones() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let other = server.other_org();
    let (_, connection) = workspace_with_connection(&server, &key, "mine").await;
    let job = started(&server, "/v1", &key, &connection).await;
    let id = job["jobId"].as_i64().unwrap();
    let missing = if id == 1 { 2 } else { id - 1 };
    let random_connection = bulkhead::ConnectionId::random().to_string();
    for prefix in PREFIXES {
        for method in [Method::GET, Method::DELETE] {
            let foreign = not_found(
                &server,
                method.clone(),
                &format!("{prefix}/jobs/{id}"),
                &other,
                None,
            )
            .await;
            let absent = not_found(
                &server,
                method.clone(),
                &format!("{prefix}/jobs/{missing}"),
                &other,
                None,
            )
            .await;
            assert_eq!(foreign, absent);
            let out_of_range = not_found(
                &server,
                method,
                &format!("{prefix}/jobs/{}", MAX_JOB_ID + 1),
                &other,
                None,
            )
            .await;
            assert_eq!(foreign, out_of_range);
        }
        let foreign = not_found(
            &server,
            Method::POST,
            &format!("{prefix}/jobs"),
            &other,
            Some(json!({"connectionId": connection, "jobType": "sync"})),
        )
        .await;
        let absent = not_found(
            &server,
            Method::POST,
            &format!("{prefix}/jobs"),
            &other,
            Some(json!({"connectionId": random_connection, "jobType": "sync"})),
        )
        .await;
        assert_eq!(foreign, absent);
        let (status, listed) = server
            .send(
                Method::GET,
                &format!("{prefix}/jobs?connectionId={connection}"),
                &other,
                None,
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(listed["data"], json!([]));
        let (_, listed) = server
            .send(Method::GET, &format!("{prefix}/jobs"), &other, None)
            .await;
        assert_eq!(listed["data"], json!([]));
    }
    // The owner's job is untouched.
    let (status, got) = server
        .send(Method::GET, &format!("/v1/jobs/{id}"), &key, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(got, job);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_reaches_its_own_workspaces_jobs_only() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let (token_a, ws_a) = server.customer("cust-a", Some(&SYNC_OPS)).await;
    let (_, ws_b) = server.customer("cust-b", Some(&SYNC_OPS)).await;
    let conn_a = connection_in(&server, &key, &ws_a).await;
    let conn_b = connection_in(&server, &key, &ws_b).await;
    let random_connection = bulkhead::ConnectionId::random().to_string();

    let mine = started(&server, "/v1", &token_a, &conn_a).await;
    let theirs = started(&server, "/v1", &key, &conn_b).await;
    let theirs_id = theirs["jobId"].as_i64().unwrap();
    let missing = if theirs_id == 1 { 2 } else { theirs_id - 1 };
    for prefix in PREFIXES {
        let (status, got) = server
            .send(
                Method::GET,
                &format!("{prefix}/jobs/{}", mine["jobId"]),
                &token_a,
                None,
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(got, mine);
        for method in [Method::GET, Method::DELETE] {
            let foreign = not_found(
                &server,
                method.clone(),
                &format!("{prefix}/jobs/{theirs_id}"),
                &token_a,
                None,
            )
            .await;
            let absent = not_found(
                &server,
                method,
                &format!("{prefix}/jobs/{missing}"),
                &token_a,
                None,
            )
            .await;
            assert_eq!(foreign, absent);
        }
        let foreign = not_found(
            &server,
            Method::POST,
            &format!("{prefix}/jobs"),
            &token_a,
            Some(json!({"connectionId": conn_b, "jobType": "sync"})),
        )
        .await;
        let absent = not_found(
            &server,
            Method::POST,
            &format!("{prefix}/jobs"),
            &token_a,
            Some(json!({"connectionId": random_connection, "jobType": "sync"})),
        )
        .await;
        assert_eq!(foreign, absent);

        let (status, listed) = server
            .send(Method::GET, &format!("{prefix}/jobs"), &token_a, None)
            .await;
        assert_eq!(status, 200, "{listed}");
        assert_eq!(listed["data"], json!([mine]));
        for query in [
            format!("workspaceIds={ws_b}"),
            format!("connectionId={conn_b}"),
        ] {
            let (status, listed) = server
                .send(
                    Method::GET,
                    &format!("{prefix}/jobs?{query}"),
                    &token_a,
                    None,
                )
                .await;
            assert_eq!(status, 200);
            assert_eq!(listed["data"], json!([]), "{query}");
        }
    }
    // The other workspace's job is still queued: the token's cancel did nothing.
    let (_, got) = server
        .send(Method::GET, &format!("/v1/jobs/{theirs_id}"), &key, None)
        .await;
    assert_eq!(got["status"], "pending");

    // The token cancels its own.
    let done = cancelled(&server, &token_a, &mine).await;
    assert_eq!(done["status"], "cancelled");

    // A token without `syncs:trigger` may not start one: 403.
    let (reader, ws_r) = server
        .customer("cust-r", Some(&["connections:read", "syncs:read"]))
        .await;
    let conn_r = connection_in(&server, &key, &ws_r).await;
    let (status, content_type, text) = server
        .send_raw(
            Method::POST,
            "/v1/jobs",
            &reader,
            Some(json!({"connectionId": conn_r, "jobType": "sync"})),
        )
        .await;
    problem(403, &content_type, &text);
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_list_filters_orders_and_pages() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let (ws_a, conn_a) = workspace_with_connection(&server, &key, "list-a").await;
    let (ws_b, conn_b) = workspace_with_connection(&server, &key, "list-b").await;
    let mut made = Vec::new();
    for _ in 0..3 {
        let job = started(&server, "/v1", &key, &conn_a).await;
        made.push(cancelled(&server, &key, &job).await);
    }
    let pending = started(&server, "/v1", &key, &conn_b).await;
    made.push(pending.clone());

    let list = |query: String| {
        let server = &server;
        let key = key.clone();
        async move {
            let (status, body) = server
                .send(Method::GET, &format!("/v1/jobs?{query}"), &key, None)
                .await;
            assert_eq!(status, 200, "{query}: {body}");
            body
        }
    };
    let all = list("limit=100".to_owned()).await["data"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(all.len(), 4);
    // Default order: createdAt ascending, the job id breaking ties.
    let key_of = |j: &Value| {
        (
            j["startTime"].as_str().unwrap().to_owned(),
            j["jobId"].as_i64().unwrap(),
        )
    };
    let mut sorted = all.clone();
    sorted.sort_by_key(key_of);
    assert_eq!(all, sorted);
    for job in &made {
        assert!(all.contains(job), "{job}");
    }
    let asc = list("orderBy=createdAt|ASC&limit=100".to_owned()).await["data"].clone();
    assert_eq!(asc, json!(all));
    let desc = list("orderBy=createdAt%7CDESC&limit=100".to_owned()).await["data"].clone();
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(desc, json!(reversed));
    let updated = list("orderBy=updatedAt|DESC&limit=100".to_owned()).await["data"].clone();
    assert_eq!(updated.as_array().unwrap().len(), 4);

    // Filters.
    let only_pending = list("status=pending".to_owned()).await["data"].clone();
    assert_eq!(only_pending, json!([pending]));
    assert_eq!(list("status=running".to_owned()).await["data"], json!([]));
    assert_eq!(
        list("status=cancelled".to_owned()).await["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(list("status=queued".to_owned()).await["data"], json!([]));
    assert_eq!(list("jobType=reset".to_owned()).await["data"], json!([]));
    assert_eq!(
        list("jobType=sync&limit=100".to_owned()).await["data"],
        json!(all)
    );
    let of_b = list(format!("workspaceIds={ws_b}")).await["data"].clone();
    assert_eq!(of_b, json!([pending]));
    let repeated = list(format!("workspaceIds={ws_a}&workspaceIds={ws_b}&limit=100")).await;
    let joined = list(format!("workspaceIds={ws_a},{ws_b}&limit=100")).await;
    assert_eq!(repeated, joined);
    assert_eq!(repeated["data"].as_array().unwrap().len(), 4);
    let of_a = list(format!("connectionId={conn_a}&status=cancelled")).await["data"].clone();
    assert_eq!(of_a.as_array().unwrap().len(), 3);

    // Time ranges, inclusive, in RFC 3339 (an offset as good as `Z`).
    let time = |j: &Value, field: &str| j[field].as_str().unwrap().to_owned();
    let updated = |j: &Value| {
        j.get("lastUpdatedAt")
            .map_or_else(|| time(j, "startTime"), |_| time(j, "lastUpdatedAt"))
    };
    let pivot = time(&all[1], "startTime");
    let expected: Vec<&Value> = all
        .iter()
        .filter(|j| time(j, "startTime") >= pivot)
        .collect();
    let got = list(format!("createdAtStart={pivot}&limit=100")).await["data"].clone();
    assert_eq!(got, json!(expected));
    let expected: Vec<&Value> = all
        .iter()
        .filter(|j| time(j, "startTime") <= pivot)
        .collect();
    let got = list(format!("createdAtEnd={pivot}&limit=100")).await["data"].clone();
    assert_eq!(got, json!(expected));
    let pivot = updated(&all[2]);
    let expected: Vec<&Value> = all.iter().filter(|j| updated(j) >= pivot).collect();
    let got = list(format!("updatedAtStart={pivot}&limit=100")).await["data"].clone();
    assert_eq!(got, json!(expected));
    let expected: Vec<&Value> = all.iter().filter(|j| updated(j) <= pivot).collect();
    let got = list(format!("updatedAtEnd={pivot}&limit=100")).await["data"].clone();
    assert_eq!(got, json!(expected));
    assert_eq!(
        list("createdAtEnd=2000-01-01T01:00:00%2B01:00".to_owned()).await["data"],
        json!([])
    );
    assert_eq!(
        list("createdAtStart=2000-01-01T00:00:00Z&limit=100".to_owned()).await["data"],
        json!(all)
    );

    // Pages of 3: a next link on the first, a previous link on the second.
    let first = list("limit=3&offset=0".to_owned()).await;
    assert_eq!(first["data"], json!(all[..3]));
    let next = first["next"].as_str().unwrap();
    assert!(next.starts_with("/v1/jobs?"), "{next}");
    assert!(
        next.contains("limit=3") && next.contains("offset=3"),
        "{next}"
    );
    assert!(first.get("previous").is_none(), "{first}");
    let second = list(next.trim_start_matches("/v1/jobs?").to_owned()).await;
    assert_eq!(second["data"], json!(all[3..]));
    assert!(second.get("next").is_none(), "{second}");
    let previous = second["previous"].as_str().unwrap();
    assert!(previous.contains("offset=0"), "{previous}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_job_queries_and_ids_are_400_naming_the_parameter() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let (_, connection) = workspace_with_connection(&server, &key, "bad").await;
    let job = started(&server, "/v1", &key, &connection).await;
    for prefix in PREFIXES {
        for (query, field) in [
            ("workspaceId=x", "workspaceId"),
            ("includeDeleted=false", "includeDeleted"),
            ("status=weird", "status"),
            ("jobType=backfill", "jobType"),
            ("orderBy=name|ASC", "orderBy"),
            ("orderBy=createdAt|UP", "orderBy"),
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("offset=-1", "offset"),
            ("connectionId=nope", "connectionId"),
            ("workspaceIds=nope", "workspaceIds"),
            ("createdAtStart=2024-01-01", "createdAtStart"),
            ("updatedAtEnd=yesterday", "updatedAtEnd"),
            ("limit=1&limit=2", "limit"),
        ] {
            let (status, content_type, text) = server
                .send_raw(Method::GET, &format!("{prefix}/jobs?{query}"), &key, None)
                .await;
            let body = problem(400, &content_type, &text);
            assert_eq!(status, 400);
            assert_eq!(body["field"], field, "{query}: {body}");
        }
        for raw in ["abc", "-1", "1.5", "99999999999999999999999"] {
            for method in [Method::GET, Method::DELETE] {
                let (status, content_type, text) = server
                    .send_raw(method, &format!("{prefix}/jobs/{raw}"), &key, None)
                    .await;
                let body = problem(400, &content_type, &text);
                assert_eq!(status, 400);
                assert_eq!(body["field"], "jobId", "{raw}: {body}");
            }
        }
        for raw in ["0", &(MAX_JOB_ID + 1).to_string()] {
            not_found(
                &server,
                Method::GET,
                &format!("{prefix}/jobs/{raw}"),
                &key,
                None,
            )
            .await;
        }
        let (status, content_type, text) = server
            .send_raw(
                Method::GET,
                &format!("{prefix}/jobs/{}?verbose=true", job["jobId"]),
                &key,
                None,
            )
            .await;
        let body = problem(400, &content_type, &text);
        assert_eq!(status, 400);
        assert_eq!(body["field"], "verbose");
    }
    // No credential, a bad one: 401.
    let res = server
        .http
        .get(server.url("/v1/jobs"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let (status, _) = server
        .send(Method::GET, "/v1/jobs", "bh_org_nope", None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizations_lists_the_credentials_own_organization() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let access = server.access_token().await;
    let other = server.other_org();
    let own_id = server.client_id(&key);
    let other_id = server.client_id(&other);
    for prefix in PREFIXES {
        for credential in [&key, &access] {
            let (status, content_type, text) = server
                .send_raw(
                    Method::GET,
                    &format!("{prefix}/organizations"),
                    credential,
                    None,
                )
                .await;
            assert_eq!(status, 200, "{text}");
            assert!(content_type.starts_with("application/json"));
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                body,
                json!({"data": [{"organizationId": own_id, "organizationName": "Acme", "email": ""}]})
            );
        }
        let (_, body) = server
            .send(
                Method::GET,
                &format!("{prefix}/organizations"),
                &other,
                None,
            )
            .await;
        assert_eq!(
            body,
            json!({"data": [{"organizationId": other_id, "organizationName": "Globex", "email": ""}]})
        );
        // A scoped token is a customer's, not an organization's: 401.
        let (token, _) = server.customer("cust-o", None).await;
        let (status, content_type, text) = server
            .send_raw(
                Method::GET,
                &format!("{prefix}/organizations"),
                &token,
                None,
            )
            .await;
        problem(401, &content_type, &text);
        assert_eq!(status, 401);
        let (status, _) = server
            .send(
                Method::GET,
                &format!("{prefix}/organizations?x=1"),
                &key,
                None,
            )
            .await;
        assert_eq!(status, 400);
    }
}

/// How many requests race to start one connection's sync.
const RACERS: usize = 8;

/// Starts `RACERS` syncs of one connection at once, over HTTP: exactly one is `200`, every
/// other a `409 try-again-later`, and one job is listed.
async fn concurrent_starts_let_exactly_one_win(server: &Server) {
    let key = server.org_key.clone();
    let (_, connection) = workspace_with_connection(server, &key, "race").await;
    let answers = futures_join(
        (0..RACERS)
            .map(|_| start(server, "/v1", &key, &connection))
            .collect(),
    )
    .await;
    let won: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    for (status, body) in &answers {
        if *status != 200 {
            assert_eq!(*status, 409, "{body}");
            assert!(
                body["type"].as_str().unwrap().ends_with("try-again-later"),
                "{body}"
            );
        }
    }
    let (_, listed) = server
        .send(
            Method::GET,
            &format!("/v1/jobs?connectionId={connection}"),
            &key,
            None,
        )
        .await;
    assert_eq!(listed["data"], json!([won[0]]));
}

/// Awaits every future of `futures` concurrently (they all run on this task).
async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_starts_over_http_let_exactly_one_win_on_sqlite() {
    let server = Server::start().await;
    concurrent_starts_let_exactly_one_win(&server).await;
}

const OWNER: &str = "bulkhead_owner";
const APP: &str = "bulkhead_app";

/// An engine on a new schema of the process's PostgreSQL server, as the restricted role.
fn pg_engine() -> Engine {
    let server = PgServer::shared();
    provision(
        server.admin_url(),
        &Roles {
            schema: "bulkhead".to_owned(),
            owner: OWNER.to_owned(),
            app: APP.to_owned(),
        },
    )
    .unwrap();
    let schema = format!(
        "bhj_{}_{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    let mut admin = Client::connect(server.admin_url(), NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema} AUTHORIZATION {OWNER}"))
        .unwrap();
    let mut config = Config::default().with_master_key(MasterKey::generate().unwrap());
    config.postgres = PgOptions {
        schema,
        owner_url: Some(server.url_for(OWNER)),
        pool_size: 4,
        ..PgOptions::default()
    };
    Engine::connect_postgres(&server.url_for(APP), config).unwrap()
}

/// The jobs routes over PostgreSQL (Row Level Security): start, the `409`s, get, list,
/// cancel, another organization's job answered like a missing one, and concurrent starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_on_postgres_start_once_cancel_and_stay_apart() {
    let engine = tokio::task::spawn_blocking(pg_engine).await.unwrap();
    let mut server =
        Server::start_on(engine, None, support::default_config(), |router| router).await;
    let key = server.org_key.clone();
    // Off the async workers: the PostgreSQL store's client runs a runtime of its own.
    let engine = server.engine.clone();
    let other = tokio::task::spawn_blocking(move || {
        let (_, key) = engine.create_organization("Globex").unwrap();
        key.expose().to_owned()
    })
    .await
    .unwrap();
    let (_, connection) = workspace_with_connection(&server, &key, "pg").await;
    let job = started(&server, "/api/public/v1", &key, &connection).await;
    let (status, body) = start(&server, "/v1", &key, &connection).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["type"].as_str().unwrap().ends_with("try-again-later"));
    let id = job["jobId"].as_i64().unwrap();
    let missing = if id == 1 { 2 } else { id - 1 };
    let (status, got) = server
        .send(Method::GET, &format!("/v1/jobs/{id}"), &key, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(got, job);
    let (_, listed) = server.send(Method::GET, "/v1/jobs", &key, None).await;
    assert_eq!(listed["data"], json!([job]));
    for method in [Method::GET, Method::DELETE] {
        let foreign = not_found(
            &server,
            method.clone(),
            &format!("/v1/jobs/{id}"),
            &other,
            None,
        )
        .await;
        let absent = not_found(
            &server,
            method,
            &format!("/v1/jobs/{missing}"),
            &other,
            None,
        )
        .await;
        assert_eq!(foreign, absent);
    }
    let done = cancelled(&server, &key, &job).await;
    assert_eq!(done["status"], "cancelled");
    let (status, body) = server
        .send(Method::DELETE, &format!("/v1/jobs/{id}"), &key, None)
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["type"].as_str().unwrap().ends_with("state-conflict"));
    concurrent_starts_let_exactly_one_win(&server).await;

    // The last handle on the PostgreSQL store drops its clients, which block: not on an
    // async worker.
    server.stop().await.unwrap();
    tokio::task::spawn_blocking(move || drop(server))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_job_requests_are_4xx_problems_and_start_nothing() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let (_, connection) = workspace_with_connection(&server, &key, "malformed").await;
    for prefix in PREFIXES {
        let url = server.url(&format!("{prefix}/jobs"));
        for (body, content_type) in [
            ("", "application/json"),
            ("{", "application/json"),
            ("[]", "application/json"),
            ("null", "application/json"),
            (
                r#"{"connectionId": 5, "jobType": "sync"}"#,
                "application/json",
            ),
            (
                r#"{"connectionId": null, "jobType": "sync"}"#,
                "application/json",
            ),
            (
                r#"{"connectionId": "x", "jobType": ["sync"]}"#,
                "application/json",
            ),
            ("\u{0}", "application/json"),
            (
                "connectionId=x&jobType=sync",
                "application/x-www-form-urlencoded",
            ),
            ("{}", "text/plain"),
        ] {
            let res = server
                .http
                .post(&url)
                .bearer_auth(&key)
                .header("content-type", content_type)
                .body(body.to_owned())
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let ct = res
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let text = res.text().await.unwrap();
            assert!((400..500).contains(&status), "{body:?}: {status} {text}");
            problem(status, &ct, &text);
        }
        for path in [
            format!("{prefix}/jobs/%00"),
            format!("{prefix}/jobs/%E2%9C%93"),
            format!("{prefix}/jobs/1/2"),
            format!("{prefix}/jobs/{}", "9".repeat(400)),
        ] {
            for method in [Method::GET, Method::DELETE, Method::PUT, Method::PATCH] {
                let (status, ct, text) = server.send_raw(method.clone(), &path, &key, None).await;
                assert!(
                    (400..500).contains(&status),
                    "{method} {path}: {status} {text}"
                );
                problem(status, &ct, &text);
            }
        }
    }
    let (_, listed) = server
        .send(
            Method::GET,
            &format!("/v1/jobs?connectionId={connection}"),
            &key,
            None,
        )
        .await;
    assert_eq!(listed["data"], json!([]));
}
