//! The OpenAPI document at `GET /api/v1/openapi.json` and the router agree: every documented
//! operation is served, nothing is served that the document does not list, and every
//! operation says who may call it and how it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::support;

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;
use support::Server;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The prefix the `/v1` routes are also served under (the document lists them once).
const MIRROR: &str = "/api/public/v1";

async fn document(server: &Server) -> Value {
    let res = server
        .http
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    res.json().await.unwrap()
}

/// Every (method, path template) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                out.push((method.clone(), path.clone(), operation.clone()));
            }
        }
    }
    out
}

/// `path` with every `{param}` filled with a fresh uuid.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                uuid::Uuid::new_v4().to_string()
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The status and problem type of `method path` sent without a credential or a body.
async fn probe(server: &Server, method: &str, path: &str) -> (u16, Value) {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let res = server
        .http
        .request(method, server.url(path))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_openapi_3_1_with_paths_components_and_info() {
    let server = Server::start().await;
    let doc = document(&server).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "Bulkhead");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        doc["info"]["description"]
            .as_str()
            .unwrap()
            .contains(MIRROR)
    );
    assert!(!doc["paths"].as_object().unwrap().is_empty());
    assert!(!doc["components"]["schemas"].as_object().unwrap().is_empty());
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for scheme in ["org_key", "access_token", "scoped_token"] {
        assert_eq!(schemes[scheme]["type"], "http", "{scheme}");
        assert_eq!(schemes[scheme]["scheme"], "bearer", "{scheme}");
    }
    let flow = &schemes["client_credentials"]["flows"]["clientCredentials"];
    assert_eq!(flow["tokenUrl"], "/v1/applications/token");
    assert!(doc["paths"]["/v1/applications/token"]["post"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_served() {
    let server = Server::start().await;
    let doc = document(&server).await;
    let mut probed = 0;
    for (method, path, _) in operations(&doc) {
        let mut paths = vec![path.clone()];
        if let Some(rest) = path.strip_prefix("/v1/") {
            paths.push(format!("{MIRROR}/{rest}"));
        }
        for path in paths {
            let (status, body) = probe(&server, &method, &concrete(&path)).await;
            assert_ne!(
                status, 405,
                "{method} {path} is documented but not served: {body}"
            );
            assert!(
                !(status == 404 && body["type"] == "urn:bulkhead:problem:no-route"),
                "{method} {path} is documented but not served: {body}"
            );
            probed += 1;
        }
    }
    assert!(probed > 40, "only {probed} operations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_documented_path_takes_no_method_it_does_not_document() {
    let server = Server::start().await;
    let doc = document(&server).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                continue;
            }
            let (status, body) = probe(&server, method, &concrete(path)).await;
            assert_eq!(
                status, 405,
                "{method} {path} is served but not documented: {body}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_has_an_id_a_summary_its_problems_and_its_credentials() {
    let server = Server::start().await;
    let doc = document(&server).await;
    let schemes: BTreeSet<&String> = doc["components"]["securitySchemes"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let mut ids = BTreeSet::new();
    for (method, path, operation) in operations(&doc) {
        let at = format!("{method} {path}");
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{at} has no operationId");
        assert!(
            ids.insert(id.to_owned()),
            "{at}: operationId `{id}` is not unique"
        );
        let summary = operation["summary"].as_str().unwrap_or_default();
        assert!(!summary.is_empty(), "{at} has no summary");

        let public = path == "/v1/health"
            || path == "/api/v1/openapi.json"
            || path.starts_with("/api/v1/docs")
            || path.ends_with("/applications/token")
            // The web pages' files: the pages sign in (or take a token) once loaded.
            || operation["tags"] == serde_json::json!(["pages"]);
        let responses = operation["responses"].as_object().unwrap();
        if !public {
            // 408 comes from the router's timeout layer on every route; a handler's own
            // failures are what is asked for here.
            let problems = responses
                .iter()
                .filter(|(status, _)| status.starts_with('4') && status.as_str() != "408")
                .filter(|(_, r)| r["content"]["application/problem+json"].is_object())
                .count();
            assert!(problems > 0, "{at} documents no 4xx problem");
        }
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert!(
                    response["content"]["application/problem+json"]["schema"]["$ref"]
                        == "#/components/schemas/Problem",
                    "{at}: {status} is not problem JSON"
                );
            }
        }

        let security = operation["security"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if public {
            assert!(security.is_empty(), "{at} needs no credential");
            continue;
        }
        assert!(!security.is_empty(), "{at} has no security requirement");
        for requirement in &security {
            for name in requirement.as_object().unwrap().keys() {
                assert!(schemes.contains(name), "{at}: unknown scheme `{name}`");
            }
        }
    }
}

/// Every `$ref` under `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_schema_reference_resolves() {
    let server = Server::start().await;
    let doc = document(&server).await;
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for reference in found {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {reference}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{reference} does not resolve"
        );
    }
}

/// Calls in `src/` that add routes to a router without `routes!`, each a deliberate
/// exception. A new handler goes through `routes!` in `lib.rs::routes`; this list does not
/// grow for it.
const ALLOWED: &[(&str, &str)] = &[
    // The `/v1` routes, nested as an `OpenApiRouter`: their operations are nested into the
    // document with them.
    ("lib.rs", r#".nest("/v1", public_v1("/v1"))"#),
    // The same `/v1` routes under `/api/public/v1`, built by the same function; the
    // document lists them once and says so in its description and servers.
    ("lib.rs", ".nest(PUBLIC_V1_MIRROR, mirror)"),
    // The worker protocol's routes, an `OpenApiRouter` of their own so that the layer that
    // refuses worker keys wraps every other route: merged into the document by `routes()`...
    ("lib.rs", "credential_routes().merge(job_protocol_routes())"),
    // ... and into the router after that layer, from the same function.
    ("lib.rs", ".merge(jobs)"),
];

/// The router methods that add routes.
const ADDS_ROUTES: [&str; 5] = [
    ".route(",
    ".route_service(",
    ".nest(",
    ".nest_service(",
    ".merge(",
];

/// The Rust files under `dir`, at any depth.
fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_route_is_added_outside_the_openapi_router() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut used = BTreeSet::new();
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files = paths.len();
    for path in paths {
        let file = path
            .strip_prefix(&src)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.trim();
            if code.starts_with("//") {
                continue;
            }
            if !ADDS_ROUTES.iter().any(|call| code.contains(call)) {
                continue;
            }
            let allowed = ALLOWED
                .iter()
                .position(|(f, l)| *f == file && code.contains(l));
            match allowed {
                Some(index) => {
                    used.insert(index);
                }
                None => panic!(
                    "src/{file}:{}: `{code}` adds a route the OpenAPI document does not see; \
                     annotate the handler with #[utoipa::path] and register it with \
                     `routes!` in lib.rs",
                    number + 1
                ),
            }
        }
    }
    assert!(files > 5, "read {files} files from {}", src.display());
    assert_eq!(
        used.len(),
        ALLOWED.len(),
        "an allow-list entry matches nothing any more"
    );
}

/// Whether `html` has an event-handler attribute (` onclick=`, ...): inline script.
fn has_inline_handler(html: &str) -> bool {
    html.match_indices(" on").any(|(at, _)| {
        let rest = &html[at + 3..];
        let name_len = rest.chars().take_while(char::is_ascii_alphabetic).count();
        name_len > 0 && rest[name_len..].starts_with('=')
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_lists_every_operation_and_loads_only_its_own_files() {
    let server = Server::start().await;
    let doc = document(&server).await;
    let res = server
        .http
        .get(server.url("/api/v1/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    let html = res.text().await.unwrap();

    // Readable before its script runs: every operation is in the HTML itself.
    for (_, _, operation) in operations(&doc) {
        let id = operation["operationId"].as_str().unwrap();
        assert!(
            html.contains(&format!("data-operation=\"{id}\"")),
            "{id} is not on the page"
        );
    }
    // One module and one stylesheet of its own; nothing inline, nothing from elsewhere.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains(r#"<script type="module" src="docs/docs.js"></script>"#));
    assert_eq!(html.matches("<link").count(), 1);
    assert!(html.contains(r#"<link rel="stylesheet" href="docs/docs.css">"#));
    assert!(!html.contains("<style") && !html.contains(" style="));
    assert!(!has_inline_handler(&html) && !html.contains("javascript:"));
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src=\"//"));

    for (path, content_type) in [
        ("/api/v1/docs/docs.js", "text/javascript"),
        ("/api/v1/docs/docs.css", "text/css"),
    ] {
        let res = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let got = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(got.starts_with(content_type), "{path}: {got}");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        let body = res.text().await.unwrap();
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path}"
        );
    }
}

#[test]
fn inline_handlers_are_seen() {
    assert!(has_inline_handler(r#"<p onclick="x()">"#));
    assert!(!has_inline_handler(r#"<p class="one">"#));
}

#[tokio::test]
async fn every_operation_that_takes_an_org_key_takes_the_session_cookie_too() {
    let server = Server::start().await;
    let doc = document(&server).await;
    let mut checked = 0;
    for (method, path, operation) in operations(&doc) {
        let names: Vec<String> = operation["security"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .flat_map(|r| r.as_object().unwrap().keys().cloned().collect::<Vec<_>>())
            .collect();
        if names.iter().any(|n| n == "org_key") {
            assert!(
                names.iter().any(|n| n == "dashboard_session"),
                "{method} {path} takes an org key but documents no session cookie"
            );
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} operations take an org key");
}
