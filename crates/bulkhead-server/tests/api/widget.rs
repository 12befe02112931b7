//! The embedded widget over real HTTP: `POST /api/v1/embedded/widget-token`, the origin its
//! scoped token is bound to, and the CORS that follows from it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, Response};
use serde_json::{Value, json};
use support::{Server, problem};

/// The page that embeds the widget in these tests.
const HOST_PAGE: &str = "https://app.example.com";
/// Another site's page.
const FOREIGN: &str = "https://evil.example";

/// The widget-token body for `external_id`, bound to `origin`.
fn widget_body(external_id: &str, origin: &str) -> Value {
    json!({
        "external_id": external_id,
        "selected_source_template_tags": ["production"],
        "selected_connection_template_tags": ["production"],
        "allowed_origin": origin,
    })
}

/// `POST /api/v1/embedded/widget-token` under `credential` with `body`.
async fn post_widget_token(server: &Server, credential: &str, body: &Value) -> Response {
    server
        .http
        .post(server.url("/api/v1/embedded/widget-token"))
        .bearer_auth(credential)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The outer answer and the decoded inner JSON of a widget token for `origin`.
async fn widget_token(server: &Server, external_id: &str, origin: &str) -> (Value, Value) {
    let res = post_widget_token(server, &server.org_key, &widget_body(external_id, origin)).await;
    assert_eq!(res.status(), 200);
    let outer: Value = res.json().await.unwrap();
    let decoded = STANDARD.decode(outer["token"].as_str().unwrap()).unwrap();
    (outer, serde_json::from_slice(&decoded).unwrap())
}

/// A scoped token bound to [`HOST_PAGE`], from the widget-token route.
async fn bound_token(server: &Server, external_id: &str) -> String {
    let (_, inner) = widget_token(server, external_id, HOST_PAGE).await;
    inner["token"].as_str().unwrap().to_owned()
}

/// `method path` with a bearer credential and, when given, an `Origin` and a JSON body.
async fn from_origin(
    server: &Server,
    method: Method,
    path: &str,
    credential: &str,
    origin: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut req = server
        .http
        .request(method, server.url(path))
        .bearer_auth(credential);
    if let Some(origin) = origin {
        req = req.header("Origin", origin);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

fn acao(res: &Response) -> Option<String> {
    res.headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned())
}

fn header(res: &Response, name: &str) -> String {
    res.headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A preflight for `method` on `path` from `origin`.
async fn preflight(server: &Server, path: &str, origin: &str, method: &str) -> Response {
    server
        .http
        .request(Method::OPTIONS, server.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

/// Asserts `res` is a 403 problem without any CORS header.
async fn assert_refused_without_cors(res: Response) -> Value {
    assert_eq!(res.status(), 403);
    assert_eq!(acao(&res), None);
    assert!(
        res.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    let content_type = header(&res, "content-type");
    let body = problem(403, &content_type, &res.text().await.unwrap());
    assert_eq!(body["type"], "urn:bulkhead:problem:origin-not-allowed");
    body
}

async fn source_count(server: &Server, token: &str) -> usize {
    let (status, body) = server
        .send(Method::GET, "/api/v1/embedded/sources", token, None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widget_token_decodes_to_a_scoped_token_that_works_and_shows_its_origin() {
    let server = Server::start().await;
    let (outer, inner) = widget_token(&server, "cust-widget", "https://App.Example.com:443").await;
    // `{"token": base64}` and nothing else, like Airbyte's.
    assert_eq!(outer.as_object().unwrap().len(), 1, "{outer}");
    assert_eq!(inner.as_object().unwrap().len(), 2, "{inner}");
    assert_eq!(inner["widgetUrl"], "/widget/");
    let token = inner["token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3);

    // The scoped routes take it (no Origin: as a server would call).
    let (status, info) = server
        .send(
            Method::GET,
            "/api/v1/embedded/scoped-token/info",
            token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["external_id"], "cust-widget");
    // Kept as a browser writes it.
    assert_eq!(info["allowed_origin"], HOST_PAGE);
    server.create_source(token).await;
    assert_eq!(source_count(&server, token).await, 1);

    // A plain scoped token's info has no origin.
    let (plain, _) = server.customer("cust-plain", None).await;
    let (_, info) = server
        .send(
            Method::GET,
            "/api/v1/embedded/scoped-token/info",
            &plain,
            None,
        )
        .await;
    assert!(info.get("allowed_origin").is_none(), "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widget_token_takes_an_access_token_and_the_platform_spelling() {
    let server = Server::start().await;
    let access = server.access_token().await;
    let body = json!({"externalUserId": "cust-1", "allowedOrigin": "http://localhost:5173"});
    let res = post_widget_token(&server, &access, &body).await;
    assert_eq!(res.status(), 200);
    let outer: Value = res.json().await.unwrap();
    let inner: Value =
        serde_json::from_slice(&STANDARD.decode(outer["token"].as_str().unwrap()).unwrap())
            .unwrap();
    let (_, info) = server
        .send(
            Method::GET,
            "/api/v1/embedded/scoped-token/info",
            inner["token"].as_str().unwrap(),
            None,
        )
        .await;
    assert_eq!(info["allowed_origin"], "http://localhost:5173");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widget_token_refuses_a_scoped_token() {
    let server = Server::start().await;
    let (token, _) = server.customer("cust-1", None).await;
    let res = post_widget_token(&server, &token, &widget_body("cust-1", HOST_PAGE)).await;
    assert_eq!(res.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_never_appears_in_the_widget_url() {
    let public = "https://bulkhead.example.com/base";
    let server =
        Server::start_configured(support::default_config().public_url(format!("{public}/"))).await;
    let (outer, inner) = widget_token(&server, "cust-url", HOST_PAGE).await;
    let url = inner["widgetUrl"].as_str().unwrap();
    assert_eq!(url, format!("{public}/widget/"));
    let token = inner["token"].as_str().unwrap();
    assert!(!url.contains('?') && !url.contains('#'), "{url}");
    for part in token.split('.') {
        assert!(!url.contains(part), "{url}");
    }
    // Nor in the outer answer in clear, besides the one base64 field.
    assert!(!outer.to_string().contains(token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_allowed_origin_is_a_4xx_problem_naming_the_field_and_writes_nothing() {
    let server = Server::start().await;
    let mut bodies: Vec<Value> = [
        "https://app.example.com/widget",
        "https://app.example.com/",
        "https://*.example.com",
        "*",
        "javascript:alert(1)",
        "",
        "null",
        "http://app.example.com",
        "https://user@app.example.com",
        "https://app.example.com:99999",
    ]
    .into_iter()
    .map(|origin| widget_body("cust-bad", origin))
    .collect();
    let mut missing = widget_body("cust-bad", "");
    missing.as_object_mut().unwrap().remove("allowed_origin");
    bodies.push(missing);
    let mut not_text = widget_body("cust-bad", "");
    not_text["allowed_origin"] = json!(["https://app.example.com"]);
    bodies.push(not_text);
    for body in bodies {
        let res = post_widget_token(&server, &server.org_key, &body).await;
        let status = res.status().as_u16();
        assert!(status == 400 || status == 422, "{body}: {status}");
        let content_type = header(&res, "content-type");
        let problem = problem(status, &content_type, &res.text().await.unwrap());
        assert_eq!(problem["field"], "allowed_origin", "{body}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("allowed_origin"),
            "{problem}"
        );
    }
    // The customer's workspace was never made: a bad request writes nothing.
    let org = server.engine.authenticate_org(&server.org_key).unwrap();
    assert!(
        org.workspace_by_external_id(&"cust-bad".parse().unwrap())
            .is_err()
    );
    // The same origin checks on the scoped-token route, where it is optional.
    let res = server
        .http
        .post(server.url("/api/v1/embedded/scoped-token"))
        .bearer_auth(&server.org_key)
        .json(&widget_body("cust-bad", "https://app.example.com/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_origin_on_the_scoped_token_route_binds_that_token_too() {
    let server = Server::start().await;
    let answer = server
        .issue(&server.org_key, widget_body("cust-1", HOST_PAGE))
        .await;
    assert_eq!(answer["allowed_origin"], HOST_PAGE);
    let token = answer["token"].as_str().unwrap();
    let res = from_origin(
        &server,
        Method::GET,
        "/api/v1/embedded/sources",
        token,
        Some(HOST_PAGE),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(acao(&res).as_deref(), Some(HOST_PAGE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_from_an_origin_a_widget_can_hold_is_answered() {
    let server = Server::start().await;
    for path in [
        "/api/v1/embedded/sources",
        "/api/v1/embedded/sources/5b0b6f6e-0000-4000-8000-000000000000",
        "/api/v1/embedded/scoped-token/info",
        "/v1/sources",
        "/api/public/v1/connections",
    ] {
        let res = preflight(&server, path, HOST_PAGE, "POST").await;
        assert_eq!(res.status(), 204, "{path}");
        assert_eq!(acao(&res).as_deref(), Some(HOST_PAGE));
        let methods = header(&res, "access-control-allow-methods");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            assert!(methods.contains(method), "{methods}");
        }
        let headers = header(&res, "access-control-allow-headers").to_lowercase();
        assert!(headers.contains("authorization") && headers.contains("content-type"));
        assert_eq!(header(&res, "access-control-max-age"), "600");
        // No cookies are used: credentials are never allowed.
        assert!(
            res.headers()
                .get("access-control-allow-credentials")
                .is_none()
        );
        assert!(header(&res, "vary").contains("Origin"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_from_an_origin_no_widget_can_hold_gets_no_cors() {
    let server = Server::start().await;
    for origin in [
        "null",
        "http://evil.example",
        "https://evil.example/page",
        "https://App.Example.com",
        "file://",
    ] {
        let res = preflight(&server, "/api/v1/embedded/sources", origin, "POST").await;
        let body = assert_refused_without_cors(res).await;
        assert!(!body.to_string().contains("Bearer"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_to_an_organization_route_gets_no_cors() {
    let server = Server::start().await;
    for path in [
        "/api/v1/embedded/widget-token",
        "/api/v1/embedded/scoped-token",
        "/api/v1/workspaces",
        "/v1/workspaces",
        "/v1/organizations",
        "/v1/applications/token",
    ] {
        let res = preflight(&server, path, HOST_PAGE, "POST").await;
        assert_ne!(res.status(), 204, "{path}");
        assert_eq!(acao(&res), None, "{path}");
        assert!(res.headers().get("access-control-allow-methods").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_from_the_bound_origin_gets_acao_on_every_scoped_route() {
    let server = Server::start().await;
    let token = bound_token(&server, "cust-1").await;
    for path in [
        "/api/v1/embedded/scoped-token/info",
        "/api/v1/embedded/source-templates",
        "/api/v1/embedded/sources",
        "/v1/sources",
        "/api/public/v1/connections",
    ] {
        let res = from_origin(&server, Method::GET, path, &token, Some(HOST_PAGE), None).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(acao(&res).as_deref(), Some(HOST_PAGE), "{path}");
        assert!(header(&res, "vary").contains("Origin"), "{path}");
        assert!(
            res.headers()
                .get("access-control-allow-credentials")
                .is_none()
        );
    }
    // A change, and an error the page must be able to read, carry it too.
    let templates: Value = from_origin(
        &server,
        Method::GET,
        "/api/v1/embedded/source-templates",
        &token,
        Some(HOST_PAGE),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let res = from_origin(
        &server,
        Method::POST,
        "/api/v1/embedded/sources",
        &token,
        Some(HOST_PAGE),
        Some(json!({
            "source_template_id": templates["data"][0]["id"],
            "source_config": {"api_key": "k", "account": "a"},
        })),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(acao(&res).as_deref(), Some(HOST_PAGE));
    let res = from_origin(
        &server,
        Method::GET,
        "/api/v1/embedded/sources/5b0b6f6e-0000-4000-8000-000000000000",
        &token,
        Some(HOST_PAGE),
        None,
    )
    .await;
    assert_eq!(res.status(), 404);
    assert_eq!(acao(&res).as_deref(), Some(HOST_PAGE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_routes_get_acao_from_the_bound_origin_and_are_refused_from_another() {
    let server = Server::start().await;
    let token = bound_token(&server, "cust-1").await;
    for path in ["/v1/jobs", "/api/public/v1/jobs", "/v1/jobs/1"] {
        let res = preflight(&server, path, HOST_PAGE, "POST").await;
        assert_eq!(res.status(), 204, "{path}");
        assert_eq!(acao(&res).as_deref(), Some(HOST_PAGE), "{path}");

        // Whatever the token's operations allow, the page can read the answer.
        let res = from_origin(&server, Method::GET, path, &token, Some(HOST_PAGE), None).await;
        assert_ne!(res.status(), 500, "{path}");
        assert_eq!(acao(&res).as_deref(), Some(HOST_PAGE), "{path}");
        assert!(header(&res, "vary").contains("Origin"), "{path}");

        let res = from_origin(&server, Method::GET, path, &token, Some(FOREIGN), None).await;
        assert_refused_without_cors(res).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_from_a_foreign_origin_is_refused_before_it_acts_and_gets_no_acao() {
    let server = Server::start().await;
    let token = bound_token(&server, "cust-1").await;
    // The preflight cannot tell (it carries no token); the actual request does.
    let res = preflight(&server, "/api/v1/embedded/sources", FOREIGN, "POST").await;
    assert_eq!(res.status(), 204);
    for path in [
        "/api/v1/embedded/sources",
        "/v1/sources",
        "/api/v1/embedded/scoped-token/info",
    ] {
        let res = from_origin(&server, Method::GET, path, &token, Some(FOREIGN), None).await;
        assert_refused_without_cors(res).await;
    }
    // A near miss is foreign too: another scheme, port or host case.
    for origin in [
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://App.example.com",
        "https://app.example.com.evil.example",
    ] {
        let res = from_origin(
            &server,
            Method::GET,
            "/api/v1/embedded/sources",
            &token,
            Some(origin),
            None,
        )
        .await;
        assert_refused_without_cors(res).await;
    }
    // A write from the foreign page does nothing.
    let res = from_origin(
        &server,
        Method::POST,
        "/api/v1/embedded/sources",
        &token,
        Some(FOREIGN),
        Some(json!({"source_template_id": "5b0b6f6e-0000-4000-8000-000000000000"})),
    )
    .await;
    assert_refused_without_cors(res).await;
    server.create_source(&token).await;
    let source_id = server
        .send(Method::GET, "/api/v1/embedded/sources", &token, None)
        .await
        .1["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = from_origin(
        &server,
        Method::DELETE,
        &format!("/api/v1/embedded/sources/{source_id}"),
        &token,
        Some(FOREIGN),
        None,
    )
    .await;
    assert_refused_without_cors(res).await;
    assert_eq!(source_count(&server, &token).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_scoped_token_is_refused_from_a_web_page_but_not_from_a_server_or_this_origin() {
    let server = Server::start().await;
    let (token, _) = server.customer("cust-1", None).await;
    let res = from_origin(
        &server,
        Method::GET,
        "/api/v1/embedded/sources",
        &token,
        Some(HOST_PAGE),
        None,
    )
    .await;
    let body = assert_refused_without_cors(res).await;
    assert!(body["detail"].as_str().unwrap().contains("allowed_origin"));
    // Server to server: no Origin.
    let res = from_origin(
        &server,
        Method::GET,
        "/api/v1/embedded/sources",
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(acao(&res), None);
    // This server's own pages (the widget's frame): same origin, no CORS needed.
    let own = server.base.clone();
    let res = from_origin(
        &server,
        Method::GET,
        "/api/v1/embedded/sources",
        &token,
        Some(&own),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(acao(&res), None);
    let res = server
        .http
        .get(server.url("/api/v1/embedded/sources"))
        .bearer_auth(&token)
        .header("Origin", "https://bulkhead.example.com")
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(acao(&res), None);
    // A widget token from this server's own origin works too (its frame calls the API).
    let bound = bound_token(&server, "cust-2").await;
    let res = from_origin(
        &server,
        Method::GET,
        "/api/v1/embedded/sources",
        &bound,
        Some(&own),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(acao(&res), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_key_and_access_token_routes_never_get_acao() {
    let server = Server::start().await;
    let access = server.access_token().await;
    for credential in [server.org_key.clone(), access] {
        let res = from_origin(
            &server,
            Method::POST,
            "/api/v1/embedded/widget-token",
            &credential,
            Some(HOST_PAGE),
            Some(widget_body("cust-1", HOST_PAGE)),
        )
        .await;
        assert_eq!(res.status(), 200);
        assert_eq!(acao(&res), None);
        for path in ["/api/v1/workspaces", "/v1/workspaces", "/v1/sources"] {
            let res = from_origin(
                &server,
                Method::GET,
                path,
                &credential,
                Some(HOST_PAGE),
                None,
            )
            .await;
            assert_eq!(res.status(), 200, "{path}");
            assert_eq!(acao(&res), None, "{path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acao_without_a_valid_token() {
    let server = Server::start().await;
    for credential in ["not-a-token", "a.b.c"] {
        let res = from_origin(
            &server,
            Method::GET,
            "/api/v1/embedded/sources",
            credential,
            Some(HOST_PAGE),
            None,
        )
        .await;
        assert_eq!(res.status(), 401);
        assert_eq!(acao(&res), None);
    }
}

/// Odd widget-token bodies and odd `Origin` headers, on the widget route and the routes CORS
/// covers: whatever the answer, never a 5xx, and every error is problem JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_widget_and_origin_requests_never_get_a_5xx() {
    let server = Server::start().await;
    let token = bound_token(&server, "cust-odd").await;
    let long = format!("https://{}.example", "a".repeat(5000));
    let bodies = [
        None,
        Some("{}".to_owned()),
        Some(r#"{"external_id": "x", "allowed_origin": null}"#.to_owned()),
        Some(r#"{"external_id": "x", "allowed_origin": {"a": 1}}"#.to_owned()),
        Some(r#"{"external_id": "x", "allowed_origin": 7}"#.to_owned()),
        Some(format!(r#"{{"external_id": "x", "allowed_origin": "{long}"}}"#)),
        Some(r#"{"external_id": "x", "allowed_origin": "https://a.example", "allowed_origin": "https://b.example"}"#.to_owned()),
        Some("[1,2".to_owned()),
    ];
    for body in &bodies {
        let mut req = server
            .http
            .post(server.url("/api/v1/embedded/widget-token"))
            .bearer_auth(&server.org_key)
            .header("content-type", "application/json");
        if let Some(body) = body {
            req = req.body(body.clone());
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        assert!(status < 500, "{body:?}: {status}");
        if status >= 400 {
            let content_type = header(&res, "content-type");
            problem(status, &content_type, &res.text().await.unwrap());
        }
    }
    let origins: [&[u8]; 7] = [
        b"",
        b"null",
        b"https://\xff\xfe",
        // (Surrounding whitespace is not part of a header value: HTTP strips it.)
        b"https://app.example.com/",
        long.as_bytes(),
        b"https://app.example.com, https://evil.example",
        b"HTTPS://APP.EXAMPLE.COM",
    ];
    for origin in origins {
        let origin = reqwest::header::HeaderValue::from_bytes(origin).unwrap();
        for path in [
            "/api/v1/embedded/sources",
            "/v1/sources",
            "/api/v1/embedded/widget-token",
        ] {
            for method in [Method::OPTIONS, Method::GET, Method::POST] {
                let res = server
                    .http
                    .request(method.clone(), server.url(path))
                    .bearer_auth(&token)
                    .header("Origin", origin.clone())
                    .header("Access-Control-Request-Method", "NOT A METHOD")
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                assert!(status < 500, "{method} {path} {origin:?}: {status}");
                // None of these is the token's origin.
                assert_eq!(acao(&res), None, "{method} {path} {origin:?}");
                if status >= 400 {
                    let content_type = header(&res, "content-type");
                    problem(status, &content_type, &res.text().await.unwrap());
                }
            }
        }
    }
}
