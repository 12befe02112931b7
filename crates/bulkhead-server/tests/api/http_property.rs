//! Random and malformed requests to every route and method (`support::routes`): bodies
//! (random bytes, truncated, huge and deeply nested JSON, wrong types), headers (missing or
//! garbled `Authorization`, wrong `Content-Type`, odd encodings), paths (random, foreign and
//! malformed ids, `..`, percent-encoding, very long segments), query strings (unknown and
//! duplicate parameters, bad numbers) and credentials (random, truncated, another
//! organization's, expired). The server never answers 5xx, never stops answering, every
//! non-2xx answer is problem JSON whose `status` is the HTTP status, and no answer carries a
//! secret or a credential of the world.
//!
//! `BULKHEAD_HTTP_CASES` sets the number of cases (default 256, sized for CI).
//!
//! The route table these tests walk and the OpenAPI document list the same operations
//! (`the_route_table_and_the_openapi_document_agree`), so a route cannot escape them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use bulkhead::{Clock as _, Config, Engine, ManualClock, SystemClock};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};
use support::routes::{self, Route};
use support::world::World;
use support::{SECRET, Server};

/// Names a random JSON object is made of: every field some route reads, and a few it does not.
const FIELDS: &[&str] = &[
    "name",
    "workspaceId",
    "workspaceIds",
    "sourceId",
    "destinationId",
    "configuration",
    "definitionId",
    "external_id",
    "workspace_name",
    "source_template_id",
    "source_config",
    "selected_source_template_tags",
    "selected_source_template_tags_mode",
    "selected_connection_template_tags",
    "selected_connection_template_tags_mode",
    "expires_in",
    "operations",
    "schedule",
    "scheduleType",
    "cronExpression",
    "status",
    "client_id",
    "client_secret",
    "grant_type",
    "grant-type",
    "notifications",
    "regionId",
    "organizationId",
    "api_key",
    "__proto__",
    "",
];

/// Odd path segments put where an id goes (or after a path that has none).
const ODD_SEGMENTS: &[&str] = &[
    "..",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%2F",
    "a%00b",
    "%ff%fe",
    "%",
    "%zz",
    "null",
    "-1",
    "0",
    "1e309",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "{id}",
    "%7Bid%7D",
    "😀",
    "%F0%9F%98%80",
    ";a=b",
    "x?y",
    "x#y",
    " ",
    "%20",
];

const QUERY_PARAMS: &[&str] = &[
    "limit=abc",
    "limit=-1",
    "limit=0",
    "limit=1",
    "limit=100",
    "limit=101",
    "limit=100000000000000000000000",
    "limit=1&limit=2",
    "offset=-5",
    "offset=x",
    "offset=4294967296",
    "offset=1",
    "workspaceIds=",
    "workspaceIds=not-a-uuid",
    "workspaceIds=,",
    "workspaceId=%ff",
    "cursor=garbage",
    "cursor=",
    "status=weird",
    "status=active",
    "name_contains=%ff%fe",
    "includeDeleted=true",
    "foo=bar",
    "=",
    "&&&",
    "a=%zz",
    "a",
    "limit",
];

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=utf-16",
    "APPLICATION/JSON",
    "application/problem+json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "multipart/form-data; boundary=x",
    "application/xml",
    "application/",
    ";",
];

/// Extra headers: odd encodings and negotiation a client may send.
const EXTRA_HEADERS: &[(&str, &str)] = &[
    ("content-encoding", "gzip"),
    ("content-encoding", "br, zstd"),
    ("accept", "text/html"),
    ("accept", "application/xml"),
    ("accept-encoding", "gzip"),
    ("accept-charset", "utf-16"),
    ("x-forwarded-host", "evil.example"),
    ("host", "evil.example"),
    ("expect", "100-continue"),
    ("content-language", "xx"),
];

#[derive(Clone, Debug)]
enum Credential {
    Absent,
    /// `Authorization` exactly as given.
    Raw(Vec<u8>),
    /// `Bearer <credential>`.
    Bearer(String),
}

#[derive(Clone, Debug)]
enum Body {
    None,
    Bytes(Vec<u8>),
    Json(Value),
    Text(String),
}

#[derive(Clone, Debug)]
struct Case {
    route: usize,
    method: Option<&'static str>,
    id: String,
    suffix: Option<&'static str>,
    query: Vec<String>,
    credential: Credential,
    content_type: Option<&'static str>,
    extra: Option<(&'static str, &'static str)>,
    body: Body,
}

/// Any JSON value, with objects keyed by [`FIELDS`] and strings drawn from `strings`.
fn json_value(strings: Vec<String>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        prop::sample::select(strings).prop_map(Value::String),
        "[a-z_]{1,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..8).prop_map(|pairs| {
                Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn body(strings: Vec<String>) -> impl Strategy<Value = Body> {
    let deep = (1usize..3000, any::<bool>()).prop_map(|(depth, arrays)| {
        let (open, close) = if arrays { ("[", "]") } else { ("{\"a\":", "}") };
        Body::Text(format!("{}1{}", open.repeat(depth), close.repeat(depth)))
    });
    let truncated =
        (json_value(strings.clone()), any::<prop::sample::Index>()).prop_map(|(v, at)| {
            let bytes = serde_json::to_vec(&v).unwrap();
            let cut = at.index(bytes.len().max(1));
            Body::Bytes(bytes[..cut.min(bytes.len())].to_vec())
        });
    let huge = (60_000usize..70_000)
        .prop_map(|n| Body::Text(format!("{{\"name\": \"{}\"}}", "x".repeat(n))));
    let long_array = Just(Body::Text(format!("[{}1]", "1,".repeat(40_000))));
    prop_oneof![
        2 => Just(Body::None),
        2 => prop::collection::vec(any::<u8>(), 0..512).prop_map(Body::Bytes),
        6 => json_value(strings).prop_map(Body::Json),
        2 => truncated,
        1 => deep,
        1 => huge,
        1 => long_array,
        1 => Just(Body::Text("\u{feff}{}".to_owned())),
        1 => Just(Body::Bytes(b"{\"name\": \"\xff\xfe\"}".to_vec())),
        1 => Just(Body::Text(r#"{"name": "a", "name": "b"}"#.to_owned())),
        1 => Just(Body::Text(r#"{"name": "\ud800"}"#.to_owned())),
        1 => Just(Body::Text("client_id=x&client_secret=y&grant_type=client_credentials".to_owned())),
        1 => Just(Body::Text("%zz=%zz&&=".to_owned())),
    ]
}

fn credential(world: Vec<String>) -> impl Strategy<Value = Credential> {
    let truncated = (
        prop::sample::select(world.clone()),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(c, at)| Credential::Bearer(c[..at.index(c.len())].to_owned()));
    let flipped = (
        prop::sample::select(world.clone()),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(c, at)| {
            let mut bytes = c.into_bytes();
            let i = at.index(bytes.len());
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            Credential::Bearer(String::from_utf8(bytes).unwrap())
        });
    prop_oneof![
        2 => Just(Credential::Absent),
        8 => prop::sample::select(world).prop_map(Credential::Bearer),
        2 => truncated,
        2 => flipped,
        1 => "[ -~]{0,64}".prop_map(Credential::Bearer),
        1 => "bh_org_[A-Za-z0-9_-]{0,60}".prop_map(Credential::Bearer),
        1 => "bh_at_[A-Za-z0-9_-]{0,60}".prop_map(Credential::Bearer),
        1 => "bh_wkr_[A-Za-z0-9_-]{0,60}".prop_map(Credential::Bearer),
        1 => "eyJ[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_.-]{0,80}".prop_map(Credential::Bearer),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Credential::Raw),
        1 => prop_oneof![
            Just(b"Basic dXNlcjpwYXNz".to_vec()),
            Just(b"Bearer".to_vec()),
            Just(b"Bearer ".to_vec()),
            Just(b"bearer  x  y".to_vec()),
            Just(b"Token abc".to_vec()),
            Just(b"Bearer \xff\xfe".to_vec()),
            Just(format!("Bearer {}", "a".repeat(8000)).into_bytes()),
        ]
        .prop_map(Credential::Raw),
    ]
}

fn case(routes: usize, ids: Vec<String>, creds: Vec<String>) -> impl Strategy<Value = Case> {
    let method = prop_oneof![
        4 => Just(None),
        1 => prop::sample::select(&["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"][..]).prop_map(Some),
    ];
    let id = prop_oneof![
        4 => prop::sample::select(ids.clone()),
        2 => any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string()),
        2 => prop::sample::select(ODD_SEGMENTS).prop_map(str::to_owned),
        1 => (1usize..6000).prop_map(|n| "a".repeat(n)),
        1 => "[ -~]{0,30}".prop_map(|s| s.replace(['/', '?', '#'], "_")),
    ];
    let suffix = prop_oneof![
        6 => Just(None),
        1 => prop::sample::select(&["/", "//", "/..", "/x", "/%2e%2e", "/.", "/./x/.."][..]).prop_map(Some),
    ];
    let query = prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(QUERY_PARAMS).prop_map(str::to_owned),
            1 => prop::sample::select(ids.clone()).prop_map(|id| format!("workspaceIds={id}")),
            1 => "[a-zA-Z0-9%=&_.-]{0,30}",
        ],
        0..4,
    );
    let content_type = prop_oneof![
        1 => Just(None),
        3 => prop::sample::select(CONTENT_TYPES).prop_map(Some),
    ];
    let extra = prop_oneof![
        4 => Just(None),
        1 => prop::sample::select(EXTRA_HEADERS).prop_map(Some),
    ];
    let strings: Vec<String> = ids.into_iter().chain(creds.iter().cloned()).collect();
    (
        0..routes,
        method,
        id,
        suffix,
        query,
        credential(creds),
        content_type,
        extra,
        body(strings),
    )
        .prop_map(
            |(route, method, id, suffix, query, credential, content_type, extra, body)| Case {
                route,
                method,
                id,
                suffix,
                query,
                credential,
                content_type,
                extra,
                body,
            },
        )
}

/// An engine on a temporary SQLite file whose clock the test moves.
fn engine(clock: Arc<ManualClock>) -> (Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bulkhead.db");
    bulkhead::MasterKey::create_file(&bulkhead::default_key_file(&path)).unwrap();
    let engine = Engine::open(&path, Config::default().with_clock(clock)).unwrap();
    (engine, dir)
}

/// A server with a populated world, and an expired scoped token of its organization.
async fn setup() -> (Server, World, String) {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let (engine, dir) = engine(Arc::clone(&clock));
    let server = Server::start_on(engine, Some(dir), support::default_config(), |router| {
        router
    })
    .await;
    let expiring = server
        .issue(
            &server.org_key,
            json!({"external_id": "soon-expired", "expires_in": 60}),
        )
        .await;
    clock.advance(Duration::from_secs(3 * 3600));
    let world = World::build(&server, 2, 1).await;
    (
        server,
        world,
        expiring["token"].as_str().unwrap().to_owned(),
    )
}

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

async fn send(server: &Server, route: &(Route, String), case: &Case) -> Result<Answer, String> {
    let (route, path) = route;
    let mut path = if path.contains("{id}") {
        Route::with_id(path, &case.id)
    } else {
        path.clone()
    };
    if let Some(suffix) = case.suffix {
        path.push_str(suffix);
    }
    if !case.query.is_empty() {
        path.push('?');
        path.push_str(&case.query.join("&"));
    }
    let method: reqwest::Method = case.method.unwrap_or(route.method).parse().unwrap();
    let mut req = server.http.request(method, server.url(&path));
    match &case.credential {
        Credential::Absent => {}
        Credential::Bearer(c) => match HeaderValue::from_str(&format!("Bearer {c}")) {
            Ok(v) => req = req.header("authorization", v),
            Err(_) => return Err("unsendable credential".to_owned()),
        },
        Credential::Raw(bytes) => match HeaderValue::from_bytes(bytes) {
            Ok(v) => req = req.header("authorization", v),
            Err(_) => return Err("unsendable header".to_owned()),
        },
    }
    if let Some(ct) = case.content_type {
        req = req.header("content-type", ct);
    }
    if let Some((name, value)) = case.extra {
        req = req.header(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    req = match &case.body {
        Body::None => req,
        Body::Bytes(b) => req.body(b.clone()),
        Body::Json(v) => req.body(serde_json::to_vec(v).unwrap()),
        Body::Text(t) => req.body(t.clone()),
    };
    let res = req.send().await.map_err(|e| format!("unsendable: {e}"))?;
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let body = res
        .bytes()
        .await
        .map_err(|e| format!("no body: {e}"))?
        .to_vec();
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

fn check(answer: &Answer, head: bool, credentials: &[String]) -> Result<(), String> {
    let text = String::from_utf8_lossy(&answer.body);
    if answer.status >= 500 {
        return Err(format!("a {}: {text}", answer.status));
    }
    if text.contains(SECRET) {
        return Err(format!("the secret in an answer: {text}"));
    }
    if let Some(c) = credentials.iter().find(|c| text.contains(c.as_str())) {
        return Err(format!(
            "a credential of the world ({}...) in an answer",
            &c[..8]
        ));
    }
    if (200..300).contains(&answer.status) {
        return Ok(());
    }
    if answer.content_type != bulkhead_server::PROBLEM_JSON {
        return Err(format!(
            "a {} with content type {:?}: {text}",
            answer.status, answer.content_type
        ));
    }
    if head {
        // A HEAD answer has no body to check.
        return Ok(());
    }
    let problem: Value =
        serde_json::from_slice(&answer.body).map_err(|e| format!("not JSON ({e}): {text}"))?;
    if problem["status"] != answer.status
        || !problem["type"].is_string()
        || !problem["title"].is_string()
    {
        return Err(format!("a {} with a bad problem: {text}", answer.status));
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("BULKHEAD_HTTP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

#[test]
fn random_and_malformed_requests_get_problems_never_a_5xx() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (server, world, expired) = runtime.block_on(setup());
    let routes = routes::all();
    let mut ids: Vec<String> = Vec::new();
    for org in &world.orgs {
        for t in &org.tenants {
            ids.extend(t.marks());
        }
        ids.extend(org.marks());
        ids.extend(org.tags.iter().cloned());
        ids.push(org.org_id.clone());
    }
    let mut credentials = world.credentials();
    credentials.push(expired.clone());

    let mut runner = TestRunner::new(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    // How the answers spread, so a run that sent nothing (or only got 401s) cannot pass.
    let seen = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());
    let result = runner.run(&case(routes.len(), ids, credentials.clone()), |case| {
        let route = &routes[case.route];
        let head = case.method == Some("HEAD");
        match runtime.block_on(send(&server, route, &case)) {
            // reqwest refused to build it (an invalid header value): nothing was sent.
            Err(why) if why.starts_with("unsendable") => return Ok(()),
            Err(why) => return Err(TestCaseError::fail(why)),
            Ok(answer) => {
                *seen.lock().unwrap().entry(answer.status).or_default() += 1;
                check(&answer, head, &credentials).map_err(TestCaseError::fail)?;
            }
        }
        Ok(())
    });
    if let Err(err) = result {
        panic!("{err}");
    }
    let seen = seen.into_inner().unwrap();
    eprintln!("answers by status: {seen:?}");
    let count = |range: std::ops::Range<u16>| -> u32 {
        seen.iter()
            .filter(|(s, _)| range.contains(s))
            .map(|(_, n)| n)
            .sum()
    };
    assert!(count(200..300) > 0, "no request succeeded: {seen:?}");
    assert!(
        count(400..401) > 0,
        "no request was invalid input: {seen:?}"
    );
    assert!(count(401..402) > 0, "no credential was refused: {seen:?}");
    assert!(count(404..405) > 0, "nothing was not found: {seen:?}");

    // The server still answers, and the expired token is refused as expired.
    runtime.block_on(async {
        let res = server
            .http
            .get(server.url("/v1/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let (status, body) = server
            .send(
                reqwest::Method::GET,
                "/api/v1/embedded/sources",
                &expired,
                None,
            )
            .await;
        assert_eq!(status, 401, "{body}");
    });
}

/// Large paths, query strings and headers, up to what the HTTP layer reads (hyper answers a
/// request whose head is over its buffer, about 400 KiB, with a bare 431 before the router
/// sees it; reqwest sends no URI over 64 KiB).
#[tokio::test]
async fn oversized_paths_and_headers_are_problems() {
    let server = Server::start().await;
    let long = "a".repeat(60_000);
    for (path, header) in [
        (format!("/v1/sources/{long}"), None),
        (format!("/api/v1/embedded/sources/{long}"), None),
        (format!("/v1/sources?limit={long}"), None),
        (format!("/v1/sources?{long}=1"), None),
        ("/v1/sources".to_owned(), Some(format!("Bearer {long}"))),
        (
            "/v1/sources".to_owned(),
            Some(format!("Bearer bh_org_{long}")),
        ),
        (
            "/v1/sources".to_owned(),
            Some(format!("Bearer bh_at_{long}")),
        ),
    ] {
        let req = server.http.get(server.url(&path));
        let req = match header {
            Some(h) => req.header("authorization", h),
            None => req.bearer_auth(&server.org_key),
        };
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = res.text().await.unwrap();
        assert!((400..500).contains(&status), "{status}: {text}");
        support::problem(status, &ct, &text);
    }
}

#[tokio::test]
async fn two_authorization_headers_are_refused_whichever_comes_first() {
    let server = Server::start().await;
    for (first, second) in [
        (server.org_key.as_str(), "garbage"),
        ("garbage", server.org_key.as_str()),
        (server.org_key.as_str(), server.org_key.as_str()),
    ] {
        let res = server
            .http
            .get(server.url("/v1/workspaces"))
            .header("authorization", format!("Bearer {first}"))
            .header("authorization", format!("Bearer {second}"))
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
        assert_eq!(status, 401, "{text}");
        support::problem(401, &ct, &text);
    }
}

/// The (method, path) pairs of the OpenAPI document, each `/v1/...` path also under
/// `/api/public/v1` (the document lists those once and says so), parameters normalized.
fn documented(doc: &Value) -> std::collections::BTreeSet<(String, String)> {
    const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
    let mut out = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let method = method.to_uppercase();
            out.insert((method.clone(), routes::normalized(path)));
            if let Some(rest) = path.strip_prefix("/v1/") {
                out.insert((
                    method,
                    routes::normalized(&format!("/api/public/v1/{rest}")),
                ));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_table_and_the_openapi_document_agree() {
    let server = Server::start().await;
    let res = server
        .http
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    let documented = documented(&doc);
    let table: std::collections::BTreeSet<(String, String)> = routes::all()
        .into_iter()
        .map(|(route, path)| (route.method.to_owned(), routes::normalized(&path)))
        .collect();
    assert_eq!(
        table.len(),
        routes::all().len(),
        "the route table lists an operation twice"
    );
    // Every line of the table is a route the server serves (not the fallback, not a 405),
    // so the table cannot agree with the document by listing what nobody serves.
    for (route, path) in routes::all() {
        let path = routes::Route::with_id(&path, &uuid::Uuid::new_v4().to_string());
        let res = server
            .http
            .request(route.method.parse().unwrap(), server.url(&path))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert!(
            status != 405 && body["type"] != "urn:bulkhead:problem:no-route",
            "{} {path} is in the route table but not served: {status} {body}",
            route.method
        );
    }
    let undocumented: Vec<_> = table.difference(&documented).collect();
    let untested: Vec<_> = documented.difference(&table).collect();
    for (method, path) in &undocumented {
        eprintln!("in the route table, not in the OpenAPI document: {method} {path}");
    }
    for (method, path) in &untested {
        eprintln!("in the OpenAPI document, not in the route table: {method} {path}");
    }
    assert!(
        undocumented.is_empty() && untested.is_empty(),
        "the route table and the OpenAPI document differ: {} served but undocumented, \
         {} documented but not in the table (listed above)",
        undocumented.len(),
        untested.len()
    );
}

/// A body sent to a route that reads none (a `GET` of the OpenAPI document, with a body
/// under the limit) still gets the whole answer: the server must not close the connection
/// with the body unread while its answer is in flight (the peer's reset would discard it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_body_does_not_cut_off_a_large_answer() {
    let server = Server::start().await;
    let body = format!("{{\"name\": \"{}\"}}", "x".repeat(60_000));
    for (route, path) in routes::all() {
        if route.method != "GET" {
            continue;
        }
        let path = routes::Route::with_id(&path, &uuid::Uuid::new_v4().to_string());
        for _ in 0..5 {
            let res = server
                .http
                .get(server.url(&path))
                .bearer_auth(&server.org_key)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = res.status();
            let read = res.bytes().await;
            assert!(read.is_ok(), "GET {path} with a body: {status}, {read:?}");
        }
    }
}
