//! Load limits and security headers over HTTP: per-organization rate limits with their
//! headers, load shedding past the concurrency cap, and the security headers of every answer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::support;

use std::time::Duration;

use bulkhead_server::RateLimit;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::json;
use support::{Server, problem};
use tokio::io::AsyncWriteExt as _;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

async fn get(server: &Server, path: &str, credential: &str) -> reqwest::Response {
    server
        .http
        .get(server.url(path))
        .bearer_auth(credential)
        .send()
        .await
        .unwrap()
}

/// A server whose organizations may make 3 requests an hour.
async fn tight() -> Server {
    Server::start_configured(
        support::default_config().rate_limit(Some(RateLimit::new(3, Duration::from_secs(3600)))),
    )
    .await
}

#[tokio::test]
async fn authenticated_answers_carry_the_rate_limit_headers() {
    let server = Server::start().await;
    let access = server.access_token().await;
    let (token, _) = server.customer("c-1", None).await;
    for (path, credential) in [
        ("/v1/workspaces", server.org_key.as_str()),
        ("/v1/workspaces", access.as_str()),
        ("/v1/sources", token.as_str()),
        ("/api/v1/embedded/sources", token.as_str()),
    ] {
        let res = get(&server, path, credential).await;
        assert_eq!(res.status(), 200, "{path}");
        let limit: u64 = header(res.headers(), "x-ratelimit-limit").parse().unwrap();
        let remaining: u64 = header(res.headers(), "x-ratelimit-remaining")
            .parse()
            .unwrap();
        let _reset: u64 = header(res.headers(), "x-ratelimit-reset").parse().unwrap();
        assert_eq!(limit, 200_000);
        assert!(remaining < limit);
    }
    // Not authenticated: no organization to count against.
    let res = server
        .http
        .get(server.url("/v1/health"))
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("x-ratelimit-limit"));
}

#[tokio::test]
async fn an_organization_past_its_limit_gets_429_with_retry_after() {
    let server = tight().await;
    let first = get(&server, "/v1/workspaces", &server.org_key).await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(first.headers(), "x-ratelimit-limit"), "3");
    assert_eq!(header(first.headers(), "x-ratelimit-remaining"), "2");
    for _ in 0..2 {
        assert_eq!(
            get(&server, "/v1/workspaces", &server.org_key)
                .await
                .status(),
            200
        );
    }
    let refused = get(&server, "/v1/workspaces", &server.org_key).await;
    assert_eq!(refused.status(), 429);
    let headers = refused.headers().clone();
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "0");
    assert_eq!(header(&headers, "x-ratelimit-limit"), "3");
    // One request comes back every 1200 s.
    assert_eq!(header(&headers, "retry-after"), "1200");
    assert_eq!(header(&headers, "x-ratelimit-reset"), "3600");
    let content_type = header(&headers, "content-type").to_owned();
    let body = problem(429, &content_type, &refused.text().await.unwrap());
    assert_eq!(body["type"], "urn:bulkhead:problem:rate-limited");
}

#[tokio::test]
async fn a_scoped_token_counts_against_its_organization_and_no_other() {
    let server = tight().await;
    let (token, _) = server.customer("c-1", None).await; // 1 of 3
    let other = server.other_org();
    assert_eq!(
        get(&server, "/api/v1/embedded/sources", &token)
            .await
            .status(),
        200
    ); // 2 of 3
    assert_eq!(
        get(&server, "/v1/workspaces", &server.org_key)
            .await
            .status(),
        200
    ); // 3 of 3
    let refused = get(&server, "/api/v1/embedded/sources", &token).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    // The other organization has its own bucket, untouched.
    let theirs = get(&server, "/v1/workspaces", &other).await;
    assert_eq!(theirs.status(), 200);
    assert_eq!(header(theirs.headers(), "x-ratelimit-remaining"), "2");
}

#[tokio::test]
async fn client_credentials_count_against_their_organization() {
    let server = tight().await;
    let id = server.client_id(&server.org_key);
    let token = |http: reqwest::Client, url: String, key: String, id: String| async move {
        http.post(url)
            .json(&json!({"client_id": id, "client_secret": key}))
            .send()
            .await
            .unwrap()
    };
    let url = server.url("/v1/applications/token");
    let first = token(
        server.http.clone(),
        url.clone(),
        server.org_key.clone(),
        id.clone(),
    )
    .await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(first.headers(), "x-ratelimit-remaining"), "2");
    for _ in 0..2 {
        let res = token(
            server.http.clone(),
            url.clone(),
            server.org_key.clone(),
            id.clone(),
        )
        .await;
        assert_eq!(res.status(), 200);
    }
    let refused = token(server.http.clone(), url, server.org_key.clone(), id).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    // Wrong credentials authenticate nobody: nothing to count, no rate headers.
    let wrong = server
        .http
        .post(server.url("/v1/applications/token"))
        .json(&json!({"client_id": uuid::Uuid::new_v4().to_string(), "client_secret": "bh_org_x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(!wrong.headers().contains_key("x-ratelimit-limit"));
}

#[tokio::test]
async fn the_rate_limit_can_be_turned_off() {
    let server = Server::start_configured(support::default_config().rate_limit(None)).await;
    let res = get(&server, "/v1/workspaces", &server.org_key).await;
    assert_eq!(res.status(), 200);
    assert!(!res.headers().contains_key("x-ratelimit-limit"));
}

#[tokio::test]
async fn past_the_concurrency_cap_a_request_is_shed_with_503_at_once() {
    let server =
        Server::start_configured(support::default_config().max_concurrent_requests(Some(1))).await;
    // A request whose body never finishes holds the only slot.
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(
        b"POST /v1/applications/token HTTP/1.1\r\nHost: bulkhead\r\n\
          Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"client_id\"",
    )
    .await
    .unwrap();
    slow.flush().await.unwrap();
    // Once the server has taken the slow request in, every other is shed, not queued.
    let shed = loop {
        let res = server
            .http
            .get(server.url("/v1/health"))
            .send()
            .await
            .unwrap();
        if res.status() == 503 {
            break res;
        }
        assert_eq!(res.status(), 200);
        tokio::task::yield_now().await;
    };
    let headers = shed.headers().clone();
    assert_eq!(header(&headers, "retry-after"), "1");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    let content_type = header(&headers, "content-type").to_owned();
    let body = problem(503, &content_type, &shed.text().await.unwrap());
    assert_eq!(body["type"], "urn:bulkhead:problem:overloaded");
    // The slow client goes away: its slot is free again.
    drop(slow);
    loop {
        let res = server
            .http
            .get(server.url("/v1/health"))
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            break;
        }
        assert_eq!(res.status(), 503);
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_tiny_engine_call_bound_still_answers_many_requests_at_once() {
    let server = Server::start_configured(support::default_config().max_blocking_calls(1)).await;
    let (token, _) = server.customer("c-1", None).await;
    let mut calls = Vec::new();
    for _ in 0..32 {
        let http = server.http.clone();
        let url = server.url("/api/v1/embedded/sources");
        let token = token.clone();
        calls.push(tokio::spawn(async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap(), 200);
    }
}

fn assert_api_security_headers(headers: &HeaderMap, what: &str) {
    assert_eq!(
        header(headers, "x-content-type-options"),
        "nosniff",
        "{what}"
    );
    assert_eq!(header(headers, "referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header(headers, "x-frame-options"), "DENY", "{what}");
    assert_eq!(
        header(headers, "content-security-policy"),
        "default-src 'none'; frame-ancestors 'none'",
        "{what}"
    );
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let server = Server::start().await;
    let (token, _) = server.customer("c-1", None).await;
    for (method, path, credential) in [
        (Method::GET, "/v1/health", ""),
        (Method::GET, "/v1/workspaces", server.org_key.as_str()),
        (Method::GET, "/api/v1/embedded/sources", token.as_str()),
        (Method::GET, "/v1/workspaces", "garbage"),
        (Method::GET, "/no/such/route", ""),
        (Method::PATCH, "/v1/health", ""),
    ] {
        let res = server
            .http
            .request(method.clone(), server.url(path))
            .bearer_auth(credential)
            .send()
            .await
            .unwrap();
        let what = format!("{method} {path} ({})", res.status());
        assert_api_security_headers(res.headers(), &what);
        assert!(
            !res.headers().contains_key("strict-transport-security"),
            "{what}: no HSTS over plain HTTP"
        );
    }
}

#[tokio::test]
async fn token_answers_are_never_cached() {
    let server = Server::start().await;
    let id = server.client_id(&server.org_key);
    let res = server
        .http
        .post(server.url("/v1/applications/token"))
        .json(&json!({"client_id": id, "client_secret": server.org_key}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(res.headers(), "cache-control"), "no-store");
    assert_api_security_headers(res.headers(), "applications/token");
    let res = server
        .http
        .post(server.url("/api/v1/embedded/scoped-token"))
        .bearer_auth(&server.org_key)
        .json(&json!({"external_id": "c-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(res.headers(), "cache-control"), "no-store");
}

#[tokio::test]
async fn strict_transport_security_only_behind_an_https_public_url() {
    let server =
        Server::start_configured(support::default_config().public_url("https://api.example.com"))
            .await;
    let res = server
        .http
        .get(server.url("/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(res.headers(), "strict-transport-security"),
        "max-age=31536000"
    );
    let plain =
        Server::start_configured(support::default_config().public_url("http://localhost:8080"))
            .await;
    let res = plain
        .http
        .get(plain.url("/v1/health"))
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("strict-transport-security"));
}
