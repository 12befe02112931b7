//! The organization's own routes over real HTTP: `/api/v1/organization/...` (numbers, audit
//! log and its chain, org keys, signing keys), which credential each takes, bad input named,
//! and another organization's key ids and `kid`s answered like missing ones.
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

const O: &str = "/api/v1/organization";

fn path(rest: &str) -> String {
    format!("{O}{rest}")
}

/// Asserts a problem of `status` naming `field`.
async fn refused(
    server: &Server,
    method: Method,
    at: &str,
    key: &str,
    body: Option<Value>,
    status: u16,
    field: &str,
) {
    let (got, content_type, text) = server.send_raw(method, at, key, body).await;
    assert_eq!(got, status, "{at}: {text}");
    let p = problem(status, &content_type, &text);
    assert_eq!(p["field"], field, "{at}: {text}");
}

#[tokio::test]
async fn stats_count_workspaces_and_creations_in_the_last_day() {
    let server = Server::start().await;
    server.customer("cust-1", None).await;
    server.customer("cust-2", None).await;
    let body = server.get_ok(&path("/stats")).await;
    assert_eq!(
        body["workspaces"],
        json!({"active": 2, "inactive": 0, "total": 2})
    );
    let hours = body["creations_per_hour"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    let last = hours.last().unwrap();
    // Both made this hour (or the one before, if an hour began in between).
    let recent = last["count"].as_u64().unwrap() + hours[22]["count"].as_u64().unwrap();
    assert_eq!(recent, 2, "{body}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert_eq!(last["hour"].as_i64().unwrap(), now - now % 3600);
    for pair in hours.windows(2) {
        assert_eq!(
            pair[1]["hour"].as_i64().unwrap() - pair[0]["hour"].as_i64().unwrap(),
            3600
        );
    }
    assert_eq!(
        hours
            .iter()
            .map(|h| h["count"].as_u64().unwrap())
            .sum::<u64>(),
        2
    );
    assert_eq!(body["tokens_issued"], 2);
    assert_eq!(body["isolation_breaches"], 0);
    for field in [
        "permission_denied",
        "invalid_tokens",
        "rate_limited",
        "denials_not_logged",
    ] {
        assert!(body["refusals"][field].is_u64(), "{field}: {body}");
    }

    // Another organization's numbers are its own.
    let other = server.other_org();
    let (_, theirs) = server
        .send(Method::GET, &path("/stats"), &other, None)
        .await;
    assert_eq!(theirs["workspaces"]["total"], 0);
    assert_eq!(theirs["tokens_issued"], 0);

    refused(
        &server,
        Method::GET,
        &path("/stats?hours=3"),
        &server.org_key,
        None,
        400,
        "hours",
    )
    .await;
}

#[tokio::test]
async fn audit_pages_filter_and_verify() {
    let server = Server::start().await;
    let (_, ws) = server.customer("cust-1", None).await;
    for _ in 0..3 {
        let (status, body) = server
            .send(
                Method::POST,
                &path("/keys"),
                &server.org_key,
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    // Oldest first, from the start, with `after`.
    let first = server.get_ok(&path("/audit?limit=2&after=0")).await;
    let events = first["data"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["seq"], 1);
    assert_eq!(first["next"], 2);
    let second = server.get_ok(&path("/audit?limit=100&after=2")).await;
    assert_eq!(second["data"][0]["seq"], 3);
    assert!(second["next"].is_null(), "{second}");
    let all = second["data"].as_array().unwrap();
    let newest = all.last().unwrap()["seq"].as_u64().unwrap();
    // Newest first by default, paged back with `before`.
    let latest = server.get_ok(&path("/audit?limit=2")).await;
    let seqs: Vec<u64> = latest["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [newest, newest - 1]);
    assert_eq!(latest["next"], newest - 1);
    let older = server
        .get_ok(&path(&format!("/audit?limit=100&before={}", newest - 1)))
        .await;
    assert_eq!(older["data"][0]["seq"], newest - 2);
    assert_eq!(older["data"].as_array().unwrap().len() as u64, newest - 2);
    assert!(older["next"].is_null(), "{older}");
    let created = all
        .iter()
        .filter(|e| e["action"] == "org_key.create")
        .count();
    assert_eq!(created, 3);
    for event in all {
        for field in ["at", "actor", "action", "target", "outcome"] {
            assert!(event[field].is_string(), "{field}: {event}");
        }
        assert!(!event.to_string().contains(&server.org_key), "{event}");
    }

    let only = server.get_ok(&path("/audit?action=org_key.create")).await;
    assert_eq!(only["data"].as_array().unwrap().len(), 3);
    let of_ws = server
        .get_ok(&path(&format!("/audit?workspace_id={ws}")))
        .await;
    let of_ws = of_ws["data"].as_array().unwrap();
    assert!(!of_ws.is_empty());
    assert!(of_ws.iter().all(|e| e["workspace_id"] == ws.as_str()));

    let in_range = server
        .get_ok(&path(
            "/audit?from=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z&limit=100",
        ))
        .await;
    assert_eq!(in_range["data"].as_array().unwrap().len(), all.len() + 2);
    let none = server
        .get_ok(&path("/audit?until=2000-01-01T00:00:00Z"))
        .await;
    assert_eq!(none["data"], json!([]));
    let past_the_end = server
        .get_ok(&path(&format!("/audit?after={}", u64::MAX)))
        .await;
    assert_eq!(past_the_end, json!({"data": [], "next": null}));

    let verified = server.get_ok(&path("/audit/verify")).await;
    assert_eq!(verified["intact"], true, "{verified}");
    assert!(verified["verified"].as_u64().unwrap() >= 4);
    assert!(verified["broken"].is_null());

    // Another organization sees its own chain only.
    let other = server.other_org();
    let theirs = server
        .send_raw(
            Method::GET,
            &path(&format!("/audit?workspace_id={ws}")),
            &other,
            None,
        )
        .await;
    let missing = server
        .send_raw(
            Method::GET,
            &path(&format!("/audit?workspace_id={}", uuid::Uuid::new_v4())),
            &other,
            None,
        )
        .await;
    assert_eq!(theirs.0, 404, "{}", theirs.2);
    assert_eq!(theirs, missing);
    let (_, theirs) = server
        .send(Method::GET, &path("/audit?limit=100"), &other, None)
        .await;
    assert!(!theirs.to_string().contains(&ws));

    for (query, field) in [
        ("after=-1", "after"),
        ("limit=0", "limit"),
        ("limit=1000", "limit"),
        ("workspace_id=nope", "workspace_id"),
        ("actor=me", "actor"),
        ("after=1&before=5", "before"),
        ("from=yesterday", "from"),
        (
            "from=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
            "until",
        ),
    ] {
        refused(
            &server,
            Method::GET,
            &path(&format!("/audit?{query}")),
            &server.org_key,
            None,
            400,
            field,
        )
        .await;
    }
    refused(
        &server,
        Method::GET,
        &path("/audit/verify?x=1"),
        &server.org_key,
        None,
        400,
        "x",
    )
    .await;
}

#[tokio::test]
async fn an_org_key_created_works_until_it_is_revoked() {
    let server = Server::start().await;
    let (status, made) = server
        .send(
            Method::POST,
            &path("/keys"),
            &server.org_key,
            Some(json!({"expires_at": "2999-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let secret = made["secret"].as_str().unwrap().to_owned();
    let id = made["key"]["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(made["key"]["prefix"].as_str().unwrap()));
    assert_eq!(made["key"]["expires_at"], "2999-01-01T00:00:00.000Z");

    // It works, and the list never carries a secret.
    let (status, list) = server
        .send(Method::GET, &path("/keys"), &secret, None)
        .await;
    assert_eq!(status, 200, "{list}");
    let keys = list["data"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(!list.to_string().contains(&secret));
    assert!(!list.to_string().contains(&server.org_key));
    assert!(keys.iter().all(|k| k.get("secret").is_none()));

    // Revoked (by itself), it stops working at once.
    let (status, revoked) = server
        .send(Method::DELETE, &path(&format!("/keys/{id}")), &secret, None)
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["id"], id.as_str());
    assert!(revoked["revoked_at"].is_string());
    let (status, _) = server
        .send(Method::GET, &path("/keys"), &secret, None)
        .await;
    assert_eq!(status, 401);
    // The first key still works and sees the revocation.
    let list = server.get_ok(&path("/keys")).await;
    let mine = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert!(mine["revoked_at"].is_string());

    refused(
        &server,
        Method::POST,
        &path("/keys"),
        &server.org_key,
        Some(json!({"expires_at": "soon"})),
        400,
        "expires_at",
    )
    .await;
    refused(
        &server,
        Method::POST,
        &path("/keys"),
        &server.org_key,
        Some(json!({"expires_at": "2001-01-01T00:00:00Z"})),
        400,
        "expires_at",
    )
    .await;
    refused(
        &server,
        Method::POST,
        &path("/keys"),
        &server.org_key,
        Some(json!({"name": "x"})),
        400,
        "name",
    )
    .await;
    refused(
        &server,
        Method::DELETE,
        &path("/keys/not-a-uuid"),
        &server.org_key,
        None,
        400,
        "key_id",
    )
    .await;
}

#[tokio::test]
async fn another_organizations_keys_are_not_found() {
    let server = Server::start().await;
    let other = server.other_org();
    let (_, theirs) = server.send(Method::GET, &path("/keys"), &other, None).await;
    let their_key = theirs["data"][0]["id"].as_str().unwrap().to_owned();
    let (_, theirs) = server
        .send(Method::GET, &path("/signing-keys"), &other, None)
        .await;
    let their_kid = theirs["data"][0]["kid"].as_str().unwrap().to_owned();

    for (at, random) in [
        (
            format!("/keys/{their_key}"),
            format!("/keys/{}", uuid::Uuid::new_v4()),
        ),
        (
            format!("/signing-keys/{their_kid}"),
            "/signing-keys/k-missing".to_owned(),
        ),
    ] {
        let theirs = server
            .send_raw(Method::DELETE, &path(&at), &server.org_key, None)
            .await;
        let missing = server
            .send_raw(Method::DELETE, &path(&random), &server.org_key, None)
            .await;
        assert_eq!(theirs.0, 404, "{at}: {}", theirs.2);
        problem(404, &theirs.1, &theirs.2);
        assert_eq!(theirs, missing, "{at} answers unlike a missing one");
    }
    // Theirs still work.
    let (status, list) = server.send(Method::GET, &path("/keys"), &other, None).await;
    assert_eq!(status, 200);
    assert!(list["data"][0]["revoked_at"].is_null());
    let (_, list) = server
        .send(Method::GET, &path("/signing-keys"), &other, None)
        .await;
    assert_eq!(list["data"][0]["kid"], their_kid.as_str());
    // And neither list shows the other organization's.
    let mine = server.get_ok(&path("/keys")).await;
    assert!(!mine.to_string().contains(&their_key));
    let mine = server.get_ok(&path("/signing-keys")).await;
    assert!(!mine.to_string().contains(&their_kid));
}

#[tokio::test]
async fn signing_keys_rotate_and_retire_without_secrets() {
    let server = Server::start().await;
    let list = server.get_ok(&path("/signing-keys")).await;
    let first = list["data"][0].clone();
    assert_eq!(first["signer"], true);
    for field in ["secret", "key", "public_key", "material"] {
        assert!(first.get(field).is_none(), "{field}: {first}");
    }

    let (status, rotated) = server
        .send(
            Method::POST,
            &path("/signing-keys/rotate"),
            &server.org_key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["signer"], true);
    assert_ne!(rotated["kid"], first["kid"]);
    let list = server.get_ok(&path("/signing-keys")).await;
    let kids: Vec<&Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert_eq!(kids, [&rotated["kid"], &first["kid"]]);
    assert!(list["data"][1]["retire_at"].is_string());

    // Retiring the old key: gone at once, no new signer.
    let old = first["kid"].as_str().unwrap();
    let (status, retired) = server
        .send(
            Method::DELETE,
            &path(&format!("/signing-keys/{old}")),
            &server.org_key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{retired}");
    assert_eq!(retired, json!({"retired": old, "signer": null}));
    let (status, _) = server
        .send(
            Method::DELETE,
            &path(&format!("/signing-keys/{old}")),
            &server.org_key,
            None,
        )
        .await;
    assert_eq!(status, 404);

    // Retiring the signer makes a new one.
    let signer = rotated["kid"].as_str().unwrap();
    let (status, retired) = server
        .send(
            Method::DELETE,
            &path(&format!("/signing-keys/{signer}")),
            &server.org_key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{retired}");
    assert_eq!(retired["signer"]["signer"], true);
    assert_ne!(retired["signer"]["kid"], rotated["kid"]);

    refused(
        &server,
        Method::POST,
        &path("/signing-keys/rotate?now=1"),
        &server.org_key,
        None,
        400,
        "now",
    )
    .await;
}

#[tokio::test]
async fn scoped_tokens_and_no_credential_are_refused() {
    let server = Server::start().await;
    let (token, _) = server.customer("cust-1", None).await;
    for (method, at) in [
        (Method::GET, "/stats"),
        (Method::GET, "/audit"),
        (Method::GET, "/audit/verify"),
        (Method::GET, "/keys"),
        (Method::POST, "/keys"),
        (Method::GET, "/signing-keys"),
        (Method::POST, "/signing-keys/rotate"),
    ] {
        let body = (method == Method::POST).then(|| json!({}));
        let (status, content_type, text) = server
            .send_raw(method.clone(), &path(at), &token, body)
            .await;
        assert_eq!(status, 401, "{at}: {text}");
        problem(401, &content_type, &text);
    }
    // An access token is an org credential.
    let access = server.access_token().await;
    let (status, _) = server
        .send(Method::GET, &path("/stats"), &access, None)
        .await;
    assert_eq!(status, 200);
}
