//! The worker protocol over HTTP: a job queued through the library is claimed with its
//! configurations opened, heartbeated and completed; a stale fencing token or a cancelled job
//! is a 409 `lease-lost` that changes nothing; another organization neither claims nor
//! touches the job; malformed bodies are 400 problems naming the field; a job started with
//! `POST /v1/jobs` is pending until a worker claims it, running while held, and its cancel
//! takes the worker's lease.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::support;

use bulkhead::{ConnectionId, Page, SyncRunId, WorkspaceId};
use reqwest::Method;
use serde_json::{Value, json};
use support::{SECRET, Server};

/// A customer with a source made from the catalog (secret [`SECRET`]) and its connection;
/// the connection's id and its workspace.
async fn customer_with_connection(
    server: &Server,
    external_id: &str,
) -> (WorkspaceId, ConnectionId) {
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
        (ws.id, connection)
    })
    .await
    .unwrap()
}

/// Queues a sync of `connection` through the library; the job's run id.
async fn queue(server: &Server, ws: WorkspaceId, connection: ConnectionId) -> SyncRunId {
    let engine = server.engine.clone();
    let org_key = server.org_key.clone();
    tokio::task::spawn_blocking(move || {
        let org = engine.authenticate_org(&org_key).unwrap();
        org.workspace(ws)
            .unwrap()
            .queue_sync(connection)
            .unwrap()
            .run
            .id
    })
    .await
    .unwrap()
}

async fn heartbeat(server: &Server, key: &str, job: &Value) -> (u16, Value) {
    server
        .send(
            Method::POST,
            &format!("/api/v1/jobs/{}/heartbeat", job["job"]["id"]),
            key,
            Some(json!({"workspace_id": job["job"]["workspace_id"],
                        "fencing_token": job["job"]["fencing_token"]})),
        )
        .await
}

async fn complete(server: &Server, key: &str, job: &Value, body: Value) -> (u16, Value) {
    let mut body = body;
    body["workspace_id"] = job["job"]["workspace_id"].clone();
    body["fencing_token"] = job["job"]["fencing_token"].clone();
    server
        .send(
            Method::POST,
            &format!("/api/v1/jobs/{}/complete", job["job"]["id"]),
            key,
            Some(body),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_claimed_heartbeated_and_completed_over_http() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let (status, _) = server.claim(&key).await;
    assert_eq!(status, 204, "nothing queued yet");

    let (ws, connection) = customer_with_connection(&server, "worker-a").await;
    let run = queue(&server, ws, connection).await;
    let (status, job) = server.claim(&key).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["job"]["run_id"], run.to_string());
    assert_eq!(job["job"]["id"], run.job_number().unwrap());
    assert_eq!(job["job"]["attempt"], 1);
    assert_eq!(job["job"]["workspace_id"], ws.to_string());
    assert_eq!(job["connection"]["id"], connection.to_string());
    // The configuration is opened for the worker: the secret in clear.
    assert!(
        job["source"]["configuration"].to_string().contains(SECRET),
        "{job}"
    );
    let (_, jobs_after) = server.claim(&key).await;
    assert_eq!(jobs_after, Value::Null, "one job, claimed once");

    let (status, beat) = heartbeat(&server, &key, &job).await;
    assert_eq!(status, 200, "{beat}");
    assert!(
        beat["lease_until"].as_str().unwrap().ends_with('Z'),
        "{beat}"
    );

    let (status, done) = complete(
        &server,
        &key,
        &job,
        json!({"status": "succeeded", "rows": 42, "bytes": 4200}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["rowsSynced"], 42);
    // Completed once: a second completion is refused, and so is a heartbeat.
    let (status, again) = complete(&server, &key, &job, json!({"status": "succeeded"})).await;
    assert_eq!(status, 409, "{again}");
    assert!(
        again["type"].as_str().unwrap().ends_with("lease-lost"),
        "{again}"
    );
    let (status, _) = heartbeat(&server, &key, &job).await;
    assert_eq!(status, 409);
}

/// `GET /v1/jobs/{id}`'s status of the claimed `job`.
async fn v1_status(server: &Server, key: &str, job: &Value) -> Value {
    let (status, got) = server
        .send(
            Method::GET,
            &format!("/v1/jobs/{}", job["job"]["id"]),
            key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    got["status"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_started_over_v1_waits_for_a_worker_and_its_cancel_takes_the_lease() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let (_, connection) = customer_with_connection(&server, "worker-v1").await;
    let (status, started) = server
        .send(
            Method::POST,
            "/v1/jobs",
            &key,
            Some(json!({"connectionId": connection, "jobType": "sync"})),
        )
        .await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["status"], "pending", "queued, not run: {started}");

    let (status, job) = server.claim(&key).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(
        job["job"]["id"], started["jobId"],
        "the v1 job is the one claimed"
    );
    assert_eq!(v1_status(&server, &key, &job).await, "running");

    // Cancelled while a worker holds it: the worker's next heartbeat and its completion
    // are refused, and the job stays cancelled.
    let (status, cancelled) = server
        .send(
            Method::DELETE,
            &format!("/v1/jobs/{}", started["jobId"]),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let (status, refused) = heartbeat(&server, &key, &job).await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["type"].as_str().unwrap().ends_with("lease-lost"),
        "{refused}"
    );
    let (status, _) = complete(
        &server,
        &key,
        &job,
        json!({"status": "succeeded", "rows": 1}),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(v1_status(&server, &key, &job).await, "cancelled");
    let (status, _) = server.claim(&key).await;
    assert_eq!(status, 204, "a cancelled job is not claimed again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claim_answer_is_never_cached() {
    let server = Server::start().await;
    let (ws, connection) = customer_with_connection(&server, "worker-b").await;
    queue(&server, ws, connection).await;
    let response = server
        .http
        .post(server.url("/api/v1/jobs/claim"))
        .bearer_auth(&server.org_key)
        .json(&json!({"worker": "w"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_token_or_a_cancelled_job_is_lease_lost_and_changes_nothing() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let (ws, connection) = customer_with_connection(&server, "worker-c").await;
    let run = queue(&server, ws, connection).await;
    let (_, job) = server.claim(&key).await;
    let mut stale = job.clone();
    stale["job"]["fencing_token"] = json!(job["job"]["fencing_token"].as_u64().unwrap() - 1);
    let (status, body) = complete(&server, &key, &stale, json!({"status": "succeeded"})).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = heartbeat(&server, &key, &stale).await;
    assert_eq!(status, 409);

    // Cancelled while it runs: the worker's next heartbeat learns it.
    let (status, cancelled) = server
        .send(
            Method::DELETE,
            &format!("/v1/jobs/{}", run.job_number().unwrap()),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    let (status, body) = heartbeat(&server, &key, &job).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = complete(&server, &key, &job, json!({"status": "succeeded"})).await;
    assert_eq!(status, 409);
    let got = server
        .get_ok(&format!("/v1/jobs/{}", run.job_number().unwrap()))
        .await;
    assert_eq!(got["status"], "cancelled", "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organization_neither_claims_nor_touches_the_job() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let other = server.other_org();
    let (ws, connection) = customer_with_connection(&server, "worker-d").await;
    queue(&server, ws, connection).await;
    let (status, _) = server.claim(&other).await;
    assert_eq!(status, 204, "the other organization has no job");
    let (_, job) = server.claim(&key).await;
    let (status, body) = heartbeat(&server, &other, &job).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = complete(
        &server,
        &other,
        &job,
        json!({"status": "failed", "error": "x"}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    // The owner still holds it.
    let (status, _) = heartbeat(&server, &key, &job).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_problems_naming_the_field() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    let (ws, connection) = customer_with_connection(&server, "worker-e").await;
    queue(&server, ws, connection).await;
    let (_, job) = server.claim(&key).await;
    for (body, field) in [
        (json!({"status": "done"}), "status"),
        (json!({"status": "failed"}), "error"),
        (json!({"status": "succeeded", "error": "no"}), "error"),
    ] {
        let (status, problem) = complete(&server, &key, &job, body).await;
        assert_eq!(status, 400, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let (status, problem) = server
        .send(
            Method::POST,
            &format!("/api/v1/jobs/{}/heartbeat", job["job"]["id"]),
            &key,
            Some(json!({"workspace_id": "nope", "fencing_token": 1})),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["field"], "workspace_id", "{problem}");
    let empty_name = server
        .http
        .post(server.url("/api/v1/jobs/claim"))
        .bearer_auth(&key)
        .json(&json!({"worker": ""}))
        .send()
        .await
        .unwrap();
    let status = empty_name.status().as_u16();
    let problem: Value = empty_name.json().await.unwrap();
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["field"], "name", "{problem}");
}
