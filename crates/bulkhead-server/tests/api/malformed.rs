//! Malformed requests of every shape get a 4xx problem JSON, never a 5xx, never plain text.
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

/// Sends a raw request; (status, content type, body, headers).
async fn raw(
    server: &Server,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String, String, reqwest::header::HeaderMap) {
    let mut req = server.http.request(method, server.url(path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(body) = body {
        req = req.body(body.to_owned());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let ct = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, res.text().await.unwrap(), headers)
}

/// A scoped-token request under the org key with `body` as JSON text; the problem it gets.
async fn token_problem(server: &Server, body: &str, status: u16) -> Value {
    let auth = format!("Bearer {}", server.org_key);
    let (got, ct, text, _) = raw(
        server,
        Method::POST,
        "/api/v1/embedded/scoped-token",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some(body),
    )
    .await;
    assert_eq!(got, status, "{body} -> {text}");
    problem(status, &ct, &text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_scoped_token_bodies_name_the_field() {
    let server = Server::start().await;
    for (body, field) in [
        (r#"{"selected_source_template_tags": []}"#, "external_id"),
        (r#"{"external_id": ""}"#, "external_id"),
        (r#"{"external_id": " padded"}"#, "external_id"),
        (r#"{"external_id": 42}"#, "body"),
        (r#"{"external_id": "a", "bogus": 1}"#, "bogus"),
        (
            r#"{"external_id": "a", "workspace_name": "b"}"#,
            "external_id",
        ),
        (
            r#"{"external_id": "a", "selected_source_template_tags": ["production"], "selected_source_template_tags_mode": "some"}"#,
            "selected_source_template_tags_mode",
        ),
        (
            r#"{"external_id": "a", "selected_connection_template_tags_mode": "all"}"#,
            "selected_connection_template_tags_mode",
        ),
        (
            r#"{"external_id": "a", "selected_source_template_tags": [""]}"#,
            "selected_source_template_tags",
        ),
        (
            r#"{"external_id": "a", "operations": ["workspaces:destroy"]}"#,
            "operations",
        ),
        (r#"{"external_id": "a", "expires_in": 0}"#, "expires_in"),
        (
            r#"{"external_id": "a", "expires_in": 9999999}"#,
            "expires_in",
        ),
        (r#"{"external_id": "a", "expires_in": -1}"#, "body"),
        (
            r#"{"external_id": "a", "organization_id": "00000000-0000-4000-8000-000000000000"}"#,
            "organization_id",
        ),
    ] {
        let problem = token_problem(&server, body, 400).await;
        let got = problem["field"].as_str().unwrap_or_default();
        assert!(
            got == field || got.starts_with(field),
            "{body}: field {got}, wanted {field}"
        );
        assert!(problem["detail"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_400_problem() {
    let server = Server::start().await;
    for body in [
        "",
        "{",
        "not json",
        "[]",
        "null",
        r#"{"external_id": "a",}"#,
        "\u{0}",
    ] {
        let problem = token_problem(&server, body, 400).await;
        assert_eq!(problem["title"], "invalid input", "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type_is_415_problem() {
    let server = Server::start().await;
    let auth = format!("Bearer {}", server.org_key);
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(ct) = ct {
            headers.push(("content-type", ct));
        }
        let (status, got_ct, text, _) = raw(
            &server,
            Method::POST,
            "/api/v1/embedded/scoped-token",
            &headers,
            Some(r#"{"external_id": "a"}"#),
        )
        .await;
        assert_eq!(status, 415, "{ct:?}");
        problem(415, &got_ct, &text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_are_problems() {
    let server = Server::start().await;
    let (status, ct, text, _) = raw(&server, Method::GET, "/nowhere", &[], None).await;
    assert_eq!(status, 404);
    problem(404, &ct, &text);
    let (status, ct, text, headers) = raw(
        &server,
        Method::PATCH,
        "/api/v1/embedded/scoped-token",
        &[],
        None,
    )
    .await;
    assert_eq!(status, 405);
    problem(405, &ct, &text);
    assert_eq!(headers["allow"], "POST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ids_queries_and_cursors_name_the_field() {
    let server = Server::start().await;
    let (token, _) = server.customer("cust_q", None).await;
    let key = server.org_key.clone();
    for (path, credential, field) in [
        ("/api/v1/embedded/sources/not-a-uuid", &token, "source_id"),
        ("/api/v1/embedded/sources/%FF", &token, ""),
        ("/api/v1/embedded/sources?limit=0", &token, "limit"),
        ("/api/v1/embedded/sources?limit=101", &token, "limit"),
        ("/api/v1/embedded/sources?limit=abc", &token, "query"),
        ("/api/v1/embedded/sources?cursor=%%%", &token, "cursor"),
        ("/api/v1/embedded/sources?cursor=AAAA", &token, "cursor"),
        (
            "/api/v1/embedded/sources?workspaceId=x",
            &token,
            "workspaceId",
        ),
        (
            "/api/v1/embedded/sources?workspace_id=x",
            &token,
            "workspace_id",
        ),
        ("/api/v1/embedded/source-templates?tags=a", &token, "tags"),
        ("/api/v1/workspaces/not-a-uuid", &key, "workspace_id"),
        ("/api/v1/workspaces?status=deleted", &key, "status"),
        (
            "/api/v1/workspaces?name_contains=a%07",
            &key,
            "name_contains",
        ),
        ("/api/v1/workspaces?limit=-1", &key, "limit"),
        ("/api/v1/workspaces?cursor=", &key, "cursor"),
    ] {
        let (status, ct, text) = server.send_raw(Method::GET, path, credential, None).await;
        assert_eq!(status, 400, "{path}: {text}");
        let body = problem(400, &ct, &text);
        if !field.is_empty() {
            assert_eq!(body["field"], field, "{path}: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_is_413_problem() {
    let server = Server::start().await;
    let auth = format!("Bearer {}", server.org_key);
    let big = format!(r#"{{"external_id": "{}"}}"#, "x".repeat(100 * 1024));
    let (status, ct, text, _) = raw(
        &server,
        Method::POST,
        "/api/v1/embedded/scoped-token",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some(&big),
    )
    .await;
    assert_eq!(status, 413);
    problem(413, &ct, &text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_source_bodies_are_4xx_problems() {
    let server = Server::start().await;
    let (token, _) = server.customer("cust_b", None).await;
    let random = uuid::Uuid::new_v4().to_string();
    for (body, status, field) in [
        (json!({}), 400, "source_template_id"),
        (
            json!({"source_template_id": "x"}),
            400,
            "source_template_id",
        ),
        (
            json!({"source_template_id": random, "source_config_template_id": uuid::Uuid::new_v4().to_string()}),
            400,
            "source_config_template_id",
        ),
        (
            json!({"source_template_id": random, "source_config": []}),
            400,
            "source_config",
        ),
        (
            json!({"source_template_id": random, "name": ""}),
            400,
            "name",
        ),
        (
            json!({"source_template_id": random, "extra": 1}),
            400,
            "extra",
        ),
        (json!({"source_template_id": random}), 404, ""),
    ] {
        let (got, ct, text) = server
            .send_raw(
                Method::POST,
                "/api/v1/embedded/sources",
                &token,
                Some(body.clone()),
            )
            .await;
        assert_eq!(got, status, "{body} -> {text}");
        let problem = problem(status, &ct, &text);
        if !field.is_empty() {
            assert_eq!(problem["field"], field, "{body} -> {text}");
        }
    }
    // A configuration that breaks the template's spec names the JSON pointer.
    let (_, templates) = server
        .send(
            Method::GET,
            "/api/v1/embedded/source-templates",
            &token,
            None,
        )
        .await;
    let template = templates["data"][0]["id"].clone();
    let (got, ct, text) = server
        .send_raw(
            Method::POST,
            "/api/v1/embedded/sources",
            &token,
            Some(json!({"source_template_id": template, "source_config": {"account": "a"}})),
        )
        .await;
    assert_eq!(got, 400, "{text}");
    let body = problem(400, &ct, &text);
    assert!(
        body["field"].as_str().unwrap().starts_with("source_config"),
        "{text}"
    );
}

/// A small sweep of odd requests across every route: whatever the answer, it is a 4xx
/// problem (or a success), never a 5xx or a plain-text body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_requests_never_get_a_5xx() {
    let server = Server::start().await;
    let (token, ws) = server.customer("cust_sweep", None).await;
    let key = server.org_key.clone();
    let paths = [
        "/api/v1/embedded/scoped-token".to_owned(),
        "/api/v1/embedded/scoped-token/info".to_owned(),
        "/api/v1/embedded/source-templates".to_owned(),
        "/api/v1/embedded/sources".to_owned(),
        format!("/api/v1/embedded/sources/{ws}"),
        "/api/v1/embedded/sources/..%2F..%2Fetc".to_owned(),
        "/api/v1/workspaces".to_owned(),
        format!("/api/v1/workspaces/{ws}"),
        "/api/v1/workspaces/%00".to_owned(),
        "/api/v1/embedded/sources?limit=1&limit=2".to_owned(),
        "/api/v1/workspaces?status=".to_owned(),
        "/api/v1/workspaces/overview?name_contains=%00".to_owned(),
        "/api/v1/integrations/templates/sources?tags=%00".to_owned(),
        format!("/api/v1/integrations/templates/connections/{ws}/tags"),
        "/api/v1/integrations/templates/tags/%00".to_owned(),
    ];
    let auths = [
        String::new(),
        format!("Bearer {key}"),
        format!("Bearer {token}"),
        format!("bearer {token}x"),
        "Bearer a.b.c".to_owned(),
        format!("Bearer {}", "A".repeat(8000)),
    ];
    let bodies = [
        None,
        Some("{}"),
        Some("{\"name\": null}"),
        Some("[1,2"),
        Some("\"x\""),
    ];
    for path in &paths {
        for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
            for auth in &auths {
                for body in bodies {
                    let mut headers = vec![("content-type", "application/json")];
                    if !auth.is_empty() {
                        headers.push(("authorization", auth.as_str()));
                    }
                    let (status, ct, text, _) =
                        raw(&server, method.clone(), path, &headers, body).await;
                    assert!(status < 500, "{method} {path} {body:?}: {status} {text}");
                    if status >= 400 {
                        problem(status, &ct, &text);
                    }
                }
            }
        }
    }
}

/// Sends `request` as raw bytes on a new connection and reads the answer to its end (the
/// server closes the connection after an error hyper answers itself): (status, head, body).
async fn raw_bytes(server: &Server, request: &[u8]) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before it has read all of a head over its limit.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the server closes the connection");
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole head");
    let status = head.get(9..12).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

/// The value of the header `name` in `head`, if there is one.
fn header_of<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// hyper answers a request it cannot parse before the router sees it (issue 14's gap): a
/// head with too many header fields or over its buffer is a 431, a malformed request line a
/// 400. `bulkhead_server::serve` makes those problems too, with the security headers.
#[tokio::test]
async fn hypers_own_431_and_400_are_problems() {
    let server = Server::start().await;
    let many: String = (0..150).map(|n| format!("x-field-{n}: {n}\r\n")).collect();
    let huge = "a".repeat(600 * 1024);
    let cases = [
        (
            format!("GET /v1/health HTTP/1.1\r\nhost: x\r\n{many}\r\n"),
            431,
        ),
        (
            format!("GET /v1/health HTTP/1.1\r\nhost: x\r\nx-big: {huge}\r\n\r\n"),
            431,
        ),
        (
            "GET /v1/health HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n".to_owned(),
            400,
        ),
        ("NOT A REQUEST\r\n\r\n".to_owned(), 400),
    ];
    for (request, status) in cases {
        let (got, head, body) = raw_bytes(&server, request.as_bytes()).await;
        assert_eq!(got, status, "{head}");
        let ct = header_of(&head, "content-type").unwrap_or_default();
        let problem = problem(status, ct, &body);
        assert!(problem["detail"].is_string(), "{body}");
        assert_eq!(
            header_of(&head, "content-length"),
            Some(body.len().to_string().as_str()),
            "{head}"
        );
        assert_eq!(header_of(&head, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header_of(&head, "cache-control"), Some("no-store"));
    }
    // A request the router answers is untouched, on a connection of the same server.
    let (status, head, body) = raw_bytes(
        &server,
        b"GET /v1/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200, "{head}{body}");
}
