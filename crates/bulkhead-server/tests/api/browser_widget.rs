//! The embedded widget in a real headless Chromium, opened from a host page served on another
//! loopback origin: the whole customer journey (pick a template, fill the form, create, see the
//! connection and its last sync, edit keeping the secret, delete), the events the host page
//! receives, the origin rule of the token message, one customer never seeing another's
//! sources, a fresh token taking over, and a quiet console (no CSP violation, no error) on
//! the host page and in the frame.
//!
//! Two origins from one tiny server: the host page is `http://localhost:<port>`, and the same
//! server reached as `http://127.0.0.1:<port>` is a foreign site. Bulkhead itself is
//! `http://127.0.0.1:<its port>`, a third origin.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::browser;
use crate::support;

use std::time::Duration;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use browser::{Browser, PHONE};
use bulkhead::{ConnectionId, SourceId, SyncOutcome, WorkspaceId};
use fantoccini::key::Key;
use serde_json::{Value, json};
use support::{SECRET, Server};

/// The host application's script: opens the widget when the test asks, and records every
/// event the widget reports in `window.events`.
const HOST_JS: &str = r#""use strict";
window.events = [];
// Frames `url` directly, as a page trying to show the widget without the library would.
window.frameDirectly = function (url) {
  const frame = document.createElement("iframe");
  frame.src = url;
  frame.title = "framed directly";
  document.body.append(frame);
};
window.openWidget = function (token) {
  window.handle = BulkheadWidget.open({
    token: token,
    onEvent: function (event) { window.events.push(event); },
  });
};
"#;

const HOST_CSS: &str = "body { font: 16px/1.5 system-ui, sans-serif; margin: 0; padding: 24px; \
     background: #eef2f7; color: #1f2933; }\nh1 { margin: 0 0 8px; }\n";

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" fill="#1d4ed8"/></svg>"##;

/// Every operation the widget can use, deletes included (the seed's default has none).
const ALL_OPS: [&str; 12] = [
    "workspace:read",
    "templates:read",
    "sources:read",
    "sources:create",
    "sources:update",
    "sources:delete",
    "destinations:read",
    "connections:read",
    "connections:create",
    "connections:update",
    "connections:delete",
    "syncs:read",
];

/// The host application: a tiny server on its own port, answering as `localhost` (the host
/// page's origin) and as `127.0.0.1` (a foreign site's).
struct Host {
    port: u16,
    _task: tokio::task::JoinHandle<()>,
}

impl Host {
    async fn start(bulkhead: &str) -> Self {
        let page = format!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>Acme app</title>\n<link rel=\"icon\" href=\"/favicon.svg\">\n\
             <link rel=\"stylesheet\" href=\"/host.css\">\n\
             <script src=\"{bulkhead}/widget/widget.js\"></script>\n\
             <script src=\"/host.js\"></script>\n</head>\n<body>\n<h1>Acme app</h1>\n\
             <p>Your dashboard. Connect your data to see it here.</p>\n</body>\n</html>\n"
        );
        // The host's own strict policy: no inline script or style; the widget's script and
        // frame from Bulkhead only.
        let csp = format!(
            "default-src 'none'; script-src 'self' {bulkhead}; frame-src {bulkhead}; \
             style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'"
        );
        let file = |body: &'static str, mime: &'static str| {
            move || async move {
                (
                    [(header::CONTENT_TYPE, HeaderValue::from_static(mime))],
                    body,
                )
                    .into_response()
            }
        };
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::get(move || {
                    let mut response: Response = axum::response::Html(page.clone()).into_response();
                    response.headers_mut().insert(
                        header::CONTENT_SECURITY_POLICY,
                        HeaderValue::from_str(&csp).unwrap(),
                    );
                    std::future::ready(response)
                }),
            )
            .route(
                "/host.js",
                axum::routing::get(file(HOST_JS, "text/javascript")),
            )
            .route("/host.css", axum::routing::get(file(HOST_CSS, "text/css")))
            .route(
                "/favicon.svg",
                axum::routing::get(file(ICON, "image/svg+xml")),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { port, _task: task }
    }

    /// The host page's origin.
    fn origin(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    /// Another site's origin (the same server under another name).
    fn foreign(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A widget token (the base64 answer the host page hands to `BulkheadWidget.open`) for
/// `external_id`, bound to `origin`, with `extra` fields in the request.
async fn widget_token(server: &Server, external_id: &str, origin: &str, extra: Value) -> String {
    let mut body = json!({
        "external_id": external_id,
        "selected_source_template_tags": ["production"],
        "selected_connection_template_tags": ["production"],
        "allowed_origin": origin,
        "operations": ALL_OPS,
    });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    let res = server
        .http
        .post(server.url("/api/v1/embedded/widget-token"))
        .bearer_auth(&server.org_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    answer["token"].as_str().unwrap().to_owned()
}

/// The scoped token inside a widget token, and its workspace (`sub`).
fn scoped(widget_token: &str) -> (String, WorkspaceId) {
    let inner: Value = serde_json::from_slice(&STANDARD.decode(widget_token).unwrap()).unwrap();
    let jwt = inner["token"].as_str().unwrap().to_owned();
    let payload = jwt.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let workspace = claims["sub"].as_str().unwrap().parse().unwrap();
    (jwt, workspace)
}

/// Opens the host page at `origin` and the widget in it with `token`; the browser is left in
/// the host page's context.
async fn open_widget(browser: &Browser, origin: &str, token: &str) {
    browser.goto(&format!("{origin}/")).await;
    browser
        .until(
            "the widget library",
            "return typeof window.BulkheadWidget === 'object'",
        )
        .await;
    browser
        .eval("window.openWidget(arguments[0])", vec![json!(token)])
        .await;
}

/// Moves the browser into the widget's frame.
async fn enter_widget(browser: &Browser) {
    browser
        .find("dialog iframe")
        .await
        .enter_frame()
        .await
        .unwrap();
}

/// Moves the browser back to the host page.
async fn leave_widget(browser: &Browser) {
    browser.client.enter_parent_frame().await.unwrap();
}

/// Waits (in the frame) until the widget shows the view `state`.
async fn view(browser: &Browser, state: &str) {
    browser
        .until(
            &format!("the widget's `{state}` view"),
            &format!(
                "const app = document.getElementById('app'); \
                 return !!app && app.dataset.state === '{state}' && !app.hasAttribute('aria-busy')"
            ),
        )
        .await;
}

/// Waits (on the host page) for the `kind` event, and returns its data.
async fn host_event(browser: &Browser, kind: &str) -> Value {
    browser
        .until(
            &format!("the host page to receive `{kind}`"),
            &format!("return window.events.some((e) => e.type === '{kind}')"),
        )
        .await;
    browser
        .eval(
            "return window.events.find((e) => e.type === arguments[0]).data",
            vec![json!(kind)],
        )
        .await
}

/// The ids of the sources the widget lists (in the frame).
async fn listed_sources(browser: &Browser) -> Vec<String> {
    let ids = browser
        .eval(
            "return [...document.querySelectorAll('[data-source]')].map((e) => e.dataset.source)",
            vec![],
        )
        .await;
    serde_json::from_value(ids).unwrap()
}

async fn type_into(browser: &Browser, css: &str, text: &str) {
    let input = browser.find(css).await;
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

async fn click(browser: &Browser, css: &str) {
    browser.find(css).await.click().await.unwrap();
}

#[tokio::test]
async fn a_customer_creates_edits_and_deletes_a_source_from_a_host_page_on_another_origin() {
    let server = Server::start().await;
    let host = Host::start(&server.base).await;
    let token = widget_token(&server, "acme-customer-1", &host.origin(), json!({})).await;
    let (_, workspace) = scoped(&token);
    let browser = Browser::start().await;

    open_widget(&browser, &host.origin(), &token).await;
    enter_widget(&browser).await;
    view(&browser, "home").await;
    let empty = browser.find(".empty").await.text().await.unwrap();
    assert_eq!(empty, "No sources yet.");
    browser.shot("widget-empty").await;

    // The templates the workspace's tags select: the production one only.
    click(&browser, "button.add").await;
    view(&browser, "pick").await;
    let names = browser
        .eval(
            "return [...document.querySelectorAll('.template-name')].map((e) => e.textContent)",
            vec![],
        )
        .await;
    assert_eq!(names, json!(["Stripe"]));
    browser.shot("widget-templates").await;
    click(&browser, "button.template").await;
    view(&browser, "create").await;

    // The form from the spec: the secret is a required password input, labelled.
    let secret = browser.find("input[name='/api_key']").await;
    assert_eq!(
        secret.attr("type").await.unwrap().as_deref(),
        Some("password")
    );
    assert!(secret.attr("required").await.unwrap().is_some());
    let labelled = browser
        .eval(
            "return [...document.querySelectorAll('input, select, textarea')] \
             .every((i) => i.labels.length === 1 && i.labels[0].textContent.trim() !== '')",
            vec![],
        )
        .await;
    assert_eq!(labelled, json!(true));
    // Checked before anything is sent: a missing required field is marked where it is.
    click(&browser, "form button[type='submit']").await;
    browser
        .until(
            "the required-field error",
            "const i = document.querySelector(\"input[name='/api_key']\"); \
             return i.getAttribute('aria-invalid') === 'true' && document.activeElement === i",
        )
        .await;
    let error = browser
        .find("input[name='/api_key'] ~ .field-error")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(error, "This field is required.");
    browser.shot("widget-form-invalid").await;

    type_into(&browser, "input[name='name']", "My Stripe").await;
    type_into(&browser, "input[name='/api_key']", SECRET).await;
    type_into(&browser, "input[name='/account']", "acct_1").await;
    browser.shot("widget-form").await;
    click(&browser, "form button[type='submit']").await;
    view(&browser, "home").await;

    leave_widget(&browser).await;
    let created = host_event(&browser, "source_created").await;
    assert_eq!(created["name"], "My Stripe");
    let source_id: SourceId = created["source_id"].as_str().unwrap().parse().unwrap();
    let connection_id: ConnectionId = created["connection_ids"][0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        !browser
            .eval("return JSON.stringify(window.events)", vec![])
            .await
            .as_str()
            .unwrap()
            .contains(SECRET),
        "an event carried the secret"
    );

    // The source and its connection, then its last sync once one has run.
    enter_widget(&browser).await;
    assert_eq!(listed_sources(&browser).await, [source_id.to_string()]);
    let connection = browser
        .find(&format!("[data-connection='{connection_id}']"))
        .await
        .text()
        .await
        .unwrap();
    assert!(connection.contains("Warehouse"), "{connection}");
    assert!(connection.contains("active"), "{connection}");
    assert!(connection.contains("not synced yet"), "{connection}");
    let org = server.engine.authenticate_org(&server.org_key).unwrap();
    let ws = org.workspace(workspace).unwrap();
    let run = ws.start_sync(connection_id).unwrap();
    ws.finish_sync(
        run.id,
        SyncOutcome::Succeeded {
            rows: 1200,
            bytes: 48_000,
        },
    )
    .unwrap();
    click(&browser, "button.refresh").await;
    browser
        .until(
            "the last sync's status",
            "return !!document.querySelector('[data-connection] .sync-succeeded')",
        )
        .await;
    view(&browser, "home").await;
    browser.shot("widget-sources").await;
    leave_widget(&browser).await;
    browser.size(PHONE).await;
    browser.shot("widget-sources-phone").await;
    browser.size(browser::DESKTOP).await;
    enter_widget(&browser).await;

    // Edit with the secret left blank: the stored secret is kept.
    click(&browser, "button.edit").await;
    view(&browser, "edit").await;
    let secret = browser.find("input[name='/api_key']").await;
    assert_eq!(secret.prop("value").await.unwrap().as_deref(), Some(""));
    assert_eq!(
        secret.attr("type").await.unwrap().as_deref(),
        Some("password")
    );
    let hint = browser
        .find("input[name='/api_key'] ~ .help")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        hint.contains("Leave blank to keep the current value"),
        "{hint}"
    );
    let account = browser.find("input[name='/account']").await;
    assert_eq!(
        account.prop("value").await.unwrap().as_deref(),
        Some("acct_1")
    );
    type_into(&browser, "input[name='/account']", "acct_2").await;
    browser.shot("widget-edit").await;
    click(&browser, "form button[type='submit']").await;
    view(&browser, "home").await;
    leave_widget(&browser).await;
    let updated = host_event(&browser, "source_updated").await;
    assert_eq!(updated["source_id"], source_id.to_string());
    let stored = org.reveal_source_config(workspace, source_id).unwrap();
    assert_eq!(stored.as_map()["api_key"], SECRET);
    assert_eq!(stored.as_map()["account"], "acct_2");

    // Delete, confirmed inside the page; its connection goes with it.
    enter_widget(&browser).await;
    click(&browser, "button.delete").await;
    view(&browser, "confirm").await;
    browser.shot("widget-delete-confirm").await;
    click(&browser, "button.confirm-delete").await;
    view(&browser, "home").await;
    browser.find(".empty").await;
    browser.shot("widget-deleted").await;
    leave_widget(&browser).await;
    let deleted = host_event(&browser, "source_deleted").await;
    assert_eq!(deleted["source_id"], source_id.to_string());
    assert!(ws.get_source(source_id).is_err());
    assert!(ws.get_connection(connection_id).is_err());

    // Escape inside the frame closes the dialog and tells the host.
    enter_widget(&browser).await;
    browser
        .find("button.add")
        .await
        .send_keys(&Key::Escape.to_string())
        .await
        .unwrap();
    leave_widget(&browser).await;
    host_event(&browser, "close").await;
    browser
        .until(
            "the dialog to go",
            "return !document.querySelector('dialog')",
        )
        .await;
    browser.assert_quiet_console().await;
    browser.close().await;
}

#[tokio::test]
async fn a_token_message_from_another_origin_is_ignored() {
    let server = Server::start().await;
    let host = Host::start(&server.base).await;
    server
        .create_source(&server.customer("acme-customer-2", None).await.0)
        .await;
    let browser = Browser::start().await;

    // A foreign site that got hold of the host's widget token frames the widget and posts it:
    // the token names the host's origin, the message comes from the foreign one.
    let stolen = widget_token(&server, "acme-customer-2", &host.origin(), json!({})).await;
    open_widget(&browser, &host.foreign(), &stolen).await;
    enter_widget(&browser).await;
    // Give the messages time to arrive; the page must not have moved.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    view_stays(&browser, "waiting").await;
    assert!(listed_sources(&browser).await.is_empty());
    assert_no_api_call(&browser).await;
    browser.shot("widget-foreign-origin").await;
    leave_widget(&browser).await;
    let events = browser.eval("return window.events", vec![]).await;
    assert_eq!(events, json!([]));

    // The host page posting a token bound to another origin: ignored the same way.
    let elsewhere = widget_token(&server, "acme-customer-2", &host.foreign(), json!({})).await;
    open_widget(&browser, &host.origin(), &elsewhere).await;
    enter_widget(&browser).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    view_stays(&browser, "waiting").await;
    assert_no_api_call(&browser).await;
    leave_widget(&browser).await;

    // The right token from the right origin opens it: the setup above was not broken.
    let right = widget_token(&server, "acme-customer-2", &host.origin(), json!({})).await;
    open_widget(&browser, &host.origin(), &right).await;
    enter_widget(&browser).await;
    view(&browser, "home").await;
    assert_eq!(listed_sources(&browser).await.len(), 1);
    leave_widget(&browser).await;
    // The other way round: an event the frame did not send (here, the host page's own
    // window forging one) never reaches the host's handler.
    browser
        .eval(
            "window.postMessage({bulkhead: 'bulkhead-widget', type: 'source_deleted', \
             data: {source_id: 'forged'}}, '*')",
            vec![],
        )
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = browser.eval("return window.events", vec![]).await;
    assert_eq!(events, json!([]));
    browser.assert_quiet_console().await;
    browser.close().await;
}

/// Asserts (in the frame) that the page has called no API route.
async fn assert_no_api_call(browser: &Browser) {
    let calls = browser
        .eval(
            "return performance.getEntriesByType('resource') \
             .map((e) => e.name).filter((n) => n.includes('/api/') || n.includes('/v1/'))",
            vec![],
        )
        .await;
    assert_eq!(calls, json!([]));
}

#[tokio::test]
async fn the_widget_page_may_be_framed_only_by_the_host_its_url_names() {
    let server = Server::start().await;
    let csp = |query: &'static str| {
        let url = server.url(&format!("/widget/{query}"));
        let http = server.http.clone();
        async move {
            let res = http.get(url).send().await.unwrap();
            assert_eq!(res.status(), 200);
            // `frame-ancestors` alone decides: an `X-Frame-Options: DENY` would make a
            // browser that prefers it refuse every host.
            assert!(res.headers().get("x-frame-options").is_none(), "{query}");
            res.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    let named = csp("?host=http%3A%2F%2Flocalhost%3A5173").await;
    assert!(
        named.ends_with("frame-ancestors http://localhost:5173"),
        "{named}"
    );
    assert!(!named.contains("unsafe-inline"), "{named}");
    for query in ["", "?host=https%3A%2F%2Fapp.example.com%2F", "?host=*"] {
        let policy = csp(query).await;
        assert!(
            policy.ends_with("frame-ancestors 'none'"),
            "{query}: {policy}"
        );
    }

    // In the browser: a foreign page framing the widget under the host's name is refused by
    // the browser itself.
    let host = Host::start(&server.base).await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/", host.foreign())).await;
    let url = format!(
        "{}/widget/?host={}",
        server.base,
        host.origin().replace(':', "%3A").replace('/', "%2F")
    );
    browser
        .eval("window.frameDirectly(arguments[0])", vec![json!(url)])
        .await;
    let deadline = std::time::Instant::now() + browser::WAIT;
    let refusal = loop {
        let console = browser.console().await;
        if !console.is_empty() {
            break console;
        }
        assert!(std::time::Instant::now() < deadline, "no refusal logged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        refusal.iter().all(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("frame-ancestors"))),
        "{refusal:#?}"
    );
    browser.close().await;
}

/// Asserts (in the frame) that the widget is still in the view `state`.
async fn view_stays(browser: &Browser, state: &str) {
    let now = browser
        .eval(
            "return document.getElementById('app').dataset.state",
            vec![],
        )
        .await;
    assert_eq!(now, json!(state));
}

#[tokio::test]
async fn one_customers_widget_never_lists_another_customers_sources() {
    let server = Server::start().await;
    let host = Host::start(&server.base).await;
    let mut mine = Vec::new();
    for customer in ["alice", "bob"] {
        let (token, _) = server.customer(customer, None).await;
        let source = server.create_source(&token).await;
        mine.push((customer, source["id"].as_str().unwrap().to_owned()));
    }
    let browser = Browser::start().await;
    for (customer, source) in &mine {
        let token = widget_token(&server, customer, &host.origin(), json!({})).await;
        open_widget(&browser, &host.origin(), &token).await;
        enter_widget(&browser).await;
        view(&browser, "home").await;
        assert_eq!(
            listed_sources(&browser).await,
            [source.as_str()],
            "{customer}"
        );
        browser.shot(&format!("widget-isolation-{customer}")).await;
        leave_widget(&browser).await;
        // The dialog's own close button closes it and tells the host.
        click(&browser, "dialog button[aria-label='Close']").await;
        host_event(&browser, "close").await;
        browser
            .until(
                "the dialog to go",
                "return !document.querySelector('dialog')",
            )
            .await;
    }
    browser.assert_quiet_console().await;
    browser.close().await;
}

#[tokio::test]
async fn a_fresh_token_takes_over_before_the_old_one_expires() {
    let server = Server::start().await;
    let host = Host::start(&server.base).await;
    let customer = "acme-customer-3";
    let (plain, _) = server.customer(customer, None).await;
    let source = server.create_source(&plain).await;
    let source = source["id"].as_str().unwrap().to_owned();
    // Shorter than the notice period: `token_expiring` is due at once.
    let first = widget_token(&server, customer, &host.origin(), json!({"expires_in": 50})).await;
    let browser = Browser::start().await;
    open_widget(&browser, &host.origin(), &first).await;
    let notice = host_event(&browser, "token_expiring").await;
    assert!(notice["expires_at"].is_number(), "{notice}");

    let fresh = widget_token(&server, customer, &host.origin(), json!({})).await;
    browser
        .eval(
            "window.handle.updateToken(arguments[0])",
            vec![json!(fresh)],
        )
        .await;
    // A token of another customer is refused by the frame: its workspace is not this one.
    let (other, _) = server.customer("someone-else", None).await;
    server.create_source(&other).await;
    let foreign = widget_token(&server, "someone-else", &host.origin(), json!({})).await;
    browser
        .eval(
            "window.handle.updateToken(arguments[0])",
            vec![json!(foreign)],
        )
        .await;
    // The first token revoked: the widget keeps working with the fresh one.
    let org = server.engine.authenticate_org(&server.org_key).unwrap();
    org.revoke_token(&scoped(&first).0).unwrap();
    enter_widget(&browser).await;
    view(&browser, "home").await;
    click(&browser, "button.refresh").await;
    view(&browser, "home").await;
    assert_eq!(listed_sources(&browser).await, [source.as_str()]);
    leave_widget(&browser).await;
    browser.assert_quiet_console().await;

    // The fresh one revoked too: the next call is a 401, and the widget says so.
    org.revoke_token(&scoped(&fresh).0).unwrap();
    enter_widget(&browser).await;
    click(&browser, "button.refresh").await;
    view(&browser, "expired").await;
    let heading = browser.find("h2").await.text().await.unwrap();
    assert_eq!(heading, "Session expired");
    browser.shot("widget-expired").await;
    leave_widget(&browser).await;
    // The one thing the console holds is the refused request itself.
    let console = browser.console().await;
    assert!(
        console.iter().all(|entry| {
            entry["message"]
                .as_str()
                .is_some_and(|m| m.contains("401") && !m.contains("Content Security Policy"))
        }),
        "{console:#?}"
    );
    browser.close().await;
}

/// A template whose spec uses every kind of field the form knows: a described string, an
/// integer with a default, an enum, a boolean, a nested object with a secret, an array and a
/// number.
fn rich_template(server: &Server) {
    let spec = json!({
        "type": "object",
        "required": ["host", "port", "ssl_mode", "credentials"],
        "properties": {
            "host": {"type": "string", "title": "Host", "description": "The database server's name or address."},
            "port": {"type": "integer", "title": "Port", "default": 5432},
            "ssl_mode": {"type": "string", "title": "SSL mode", "enum": ["disable", "require", "verify-full"], "default": "require"},
            "replication": {"type": "boolean", "title": "Use logical replication", "default": false},
            "credentials": {
                "type": "object",
                "title": "Credentials",
                "required": ["username", "password"],
                "properties": {
                    "username": {"type": "string", "title": "User"},
                    "password": {"type": "string", "title": "Password", "airbyte_secret": true}
                }
            },
            "schemas": {"type": "array", "title": "Schemas", "items": {"type": "string"}},
            "timeout_seconds": {"type": "number"}
        }
    });
    let org = server.engine.authenticate_org(&server.org_key).unwrap();
    org.create_source_template(bulkhead::NewSourceTemplate {
        name: "Postgres".parse().unwrap(),
        connector: "postgres".parse().unwrap(),
        default_config: bulkhead::ConnectorConfig::new(json!({})).unwrap(),
        spec: bulkhead::ConfigSpec::parse(spec).unwrap(),
        tags: ["production".parse().unwrap()].into_iter().collect(),
    })
    .unwrap();
}

#[tokio::test]
async fn the_form_follows_the_spec_checks_types_and_shows_the_servers_problem_at_its_field() {
    let server = Server::start().await;
    rich_template(&server);
    let host = Host::start(&server.base).await;
    let token = widget_token(&server, "acme-customer-4", &host.origin(), json!({})).await;
    let (_, workspace) = scoped(&token);
    let browser = Browser::start().await;
    browser.size(PHONE).await;
    open_widget(&browser, &host.origin(), &token).await;
    // The frame's URL names the host page's origin, and never carries the token.
    let src = browser
        .find("dialog iframe")
        .await
        .attr("src")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        src,
        format!(
            "{}/widget/?host={}",
            server.base,
            host.origin().replace(':', "%3A").replace('/', "%2F")
        )
    );
    // The dialog is modal and holds the focus.
    let focused = browser
        .eval("return !!document.activeElement.closest('dialog')", vec![])
        .await;
    assert_eq!(focused, json!(true));
    enter_widget(&browser).await;
    view(&browser, "home").await;
    // By keyboard: the view's heading has the focus, Tab reaches "Add a source", Enter opens
    // the templates.
    let heading = browser.client.active_element().await.unwrap();
    assert_eq!(heading.text().await.unwrap(), "Your sources");
    heading.send_keys(&Key::Tab.to_string()).await.unwrap();
    let add = browser.client.active_element().await.unwrap();
    assert_eq!(add.text().await.unwrap(), "Add a source");
    add.send_keys(&Key::Enter.to_string()).await.unwrap();
    view(&browser, "pick").await;
    browser
        .eval(
            "[...document.querySelectorAll('button.template')] \
             .find((b) => b.querySelector('.template-name').textContent === 'Postgres').click()",
            vec![],
        )
        .await;
    view(&browser, "create").await;

    // Types, defaults, enums, groups, help text linked to its field.
    let port = browser.find("input[name='/port']").await;
    assert_eq!(port.prop("value").await.unwrap().as_deref(), Some("5432"));
    let ssl = browser
        .eval(
            "const s = document.querySelector(\"select[name='/ssl_mode']\"); \
             return s.options[s.selectedIndex].textContent",
            vec![],
        )
        .await;
    assert_eq!(ssl, json!("require"));
    let checkbox = browser.find("input[name='/replication']").await;
    assert_eq!(
        checkbox.attr("type").await.unwrap().as_deref(),
        Some("checkbox")
    );
    let group = browser
        .find("fieldset.group legend")
        .await
        .text()
        .await
        .unwrap();
    assert!(group.starts_with("Credentials"), "{group}");
    let password = browser
        .find("fieldset.group input[name='/credentials/password']")
        .await;
    assert_eq!(
        password.attr("type").await.unwrap().as_deref(),
        Some("password")
    );
    let help = browser
        .eval(
            "const i = document.querySelector(\"input[name='/host']\"); \
             return i.getAttribute('aria-describedby').split(' ') \
               .map((id) => document.getElementById(id).textContent).join('')",
            vec![],
        )
        .await;
    assert_eq!(help, json!("The database server's name or address."));
    let labels = browser
        .eval(
            "return [...document.querySelectorAll('label')].map((l) => l.textContent)",
            vec![],
        )
        .await;
    assert!(
        labels
            .as_array()
            .unwrap()
            .contains(&json!("Timeout seconds")),
        "{labels}"
    );
    browser.shot("widget-form-spec-phone").await;

    // Checked in the page: a wrong type and missing required fields, each at its field.
    type_into(&browser, "input[name='/host']", "db.example.com").await;
    type_into(&browser, "input[name='/port']", "54x").await;
    click(&browser, "form button[type='submit']").await;
    browser
        .until(
            "the type error",
            "return document.querySelector(\"input[name='/port']\").getAttribute('aria-invalid') === 'true'",
        )
        .await;
    let errors = browser
        .eval(
            "return [...document.querySelectorAll('.field-error:not([hidden])')] \
             .map((e) => e.textContent)",
            vec![],
        )
        .await;
    assert_eq!(
        errors,
        // In the form's order: the port, then the required group's user and password.
        json!([
            "Enter a whole number.",
            "This field is required.",
            "This field is required."
        ])
    );

    // The server's problem, for a field it checks: shown next to that field.
    type_into(&browser, "input[name='/port']", "5433").await;
    type_into(&browser, "input[name='/credentials/username']", "app").await;
    type_into(&browser, "input[name='/credentials/password']", "pg-secret").await;
    browser
        .find("select[name='/ssl_mode']")
        .await
        .select_by_label("verify-full")
        .await
        .unwrap();
    checkbox.click().await.unwrap();
    type_into(&browser, "textarea[name='/schemas']", "public\nsales").await;
    type_into(&browser, "input[name='name']", &"x".repeat(256)).await;
    click(&browser, "form button[type='submit']").await;
    browser
        .until(
            "the server's problem at the name field",
            "return document.querySelector(\"input[name='name']\").getAttribute('aria-invalid') === 'true'",
        )
        .await;
    let problem = browser
        .find("input[name='name'] ~ .field-error")
        .await
        .text()
        .await
        .unwrap();
    assert!(problem.contains("the limit is 255"), "{problem}");
    browser.shot("widget-form-server-problem").await;
    // The refused request is the console's one entry so far.
    let console = browser.console().await;
    assert!(
        console
            .iter()
            .all(|e| e["message"].as_str().is_some_and(|m| m.contains("400"))),
        "{console:#?}"
    );
    leave_widget(&browser).await;
    let refused = host_event(&browser, "source_created_error").await;
    assert_eq!(refused["status"], 400);
    assert_eq!(refused["field"], "name");
    enter_widget(&browser).await;

    type_into(&browser, "input[name='name']", "Warehouse DB").await;
    click(&browser, "form button[type='submit']").await;
    view(&browser, "home").await;
    leave_widget(&browser).await;
    let created = host_event(&browser, "source_created").await;
    let id: SourceId = created["source_id"].as_str().unwrap().parse().unwrap();
    let org = server.engine.authenticate_org(&server.org_key).unwrap();
    let stored = org.reveal_source_config(workspace, id).unwrap();
    assert_eq!(
        serde_json::Value::Object(stored.as_map().clone()),
        json!({
            "host": "db.example.com",
            "port": 5433,
            "ssl_mode": "verify-full",
            "replication": true,
            "credentials": {"username": "app", "password": "pg-secret"},
            "schemas": ["public", "sales"],
        })
    );
    browser.assert_quiet_console().await;
    browser.close().await;
}
