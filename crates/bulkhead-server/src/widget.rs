//! The embedded widget's token and the CORS that lets one browser origin use it.
//!
//! **`POST /api/v1/embedded/widget-token`** (org key or access token) takes the body of
//! `POST /api/v1/embedded/scoped-token` plus a required `allowed_origin` (`https://host[:port]`;
//! `http` only for `localhost`, `127.0.0.0/8` and `[::1]`; no path, trailing `/`, wildcard or
//! user information; see [`bulkhead::AllowedOrigin`]), runs the same flow, and answers
//! `{"token": base64(JSON {"token": <scoped token>, "widgetUrl": <public URL>/widget/})}`
//! (standard base64 with padding, as Airbyte's widget library reads it). The scoped token
//! carries the origin as its signed `origin` claim. It is never put in `widgetUrl` or any
//! other URL: the host page hands it to the widget's frame by `postMessage`.
//!
//! **CORS**, stateless, decided by the token in each request:
//!
//! - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) to a route a
//!   scoped token may use ([`is_cors_path`]) is answered 204 with the methods, the headers
//!   `authorization` and `content-type`, `Access-Control-Max-Age` and the origin echoed,
//!   when `Origin` is an origin a widget token can be bound to; otherwise 403 without any
//!   CORS header. A preflight carries no credential, so it cannot tell one organization's
//!   origin from another's: the actual request decides.
//! - An actual request whose scoped token is bound to an origin equal to its `Origin` gets
//!   `Access-Control-Allow-Origin: <that origin>`. Any other request carrying an `Origin`
//!   of another site, with a scoped token, is refused (403) before its handler runs, and
//!   gets no `Access-Control-Allow-Origin`: a leaked widget token is of no use to another
//!   web page, and a plain scoped token to none. A same-origin request (the widget's own
//!   frame, served by this server: `Sec-Fetch-Site: same-origin`, or an `Origin` equal to
//!   [`crate::ServerConfig::public_url`]'s or to the `Host` the request was sent to) is
//!   unaffected, and so is a request without `Origin` (server to server).
//! - An org key or an access token never gets `Access-Control-Allow-Origin`: those never
//!   belong in a browser. No response allows credentials (no cookie is used).
//!
//! Every response of a CORS route carries `Vary: Origin`.
//!
//! # The widget in the browser
//!
//! The host application's page loads `<public URL>/widget/widget.js` (a classic script) and
//! calls `BulkheadWidget.open({token, onEvent})` with the widget token; it returns
//! `{updateToken(token), close()}`. `widget.js` opens a modal `<dialog>` holding an `<iframe>`
//! on `widgetUrl` + `?host=<the host page's origin>` (never the token; `host` narrows the
//! page's `frame-ancestors`, see the `pages` module). The frame is `web/widget/index.html`
//! with `frame.js` (and its modules `form.js`, the forms generated from the templates' specs,
//! and `dom.js`): a customer's sources, made from the templates their tags select, over the
//! scoped routes above (same-origin requests, so no CORS is involved).
//!
//! **Messages.** Every message is an object `{bulkhead: "bulkhead-widget", type, ...}`:
//!
//! | from → to | `type` | rest | addressed to |
//! | --- | --- | --- | --- |
//! | frame → host | `ready` | | `"*"`: it carries nothing, and the frame does not know its host yet |
//! | host → frame | `token` | `token`: the scoped token (first, and each `updateToken`) | the widget's origin (`widgetUrl`'s) |
//! | frame → host | `source_created`, `source_updated`, `source_deleted` | `data`: the source's id and name (`connection_ids` on create) | the token's `origin` |
//! | frame → host | `source_created_error`, `source_updated_error`, `source_deleted_error` | `data`: the problem's `status`, `type`, `title`, `detail`, `field` | the token's `origin` |
//! | frame → host | `token_expiring` | `data.expires_at` (seconds): sent 60 s before the token expires | the token's `origin` |
//! | frame → host | `close` | Escape pressed in the frame | the token's `origin` |
//!
//! `widget.js` passes the events to `onEvent({type, data})` (and `close` also when the dialog
//! is closed by its button or Escape), and takes a message only when
//! `event.origin` is the widget's origin and `event.source` is its iframe's window.
//!
//! **The frame's origin rule.** The frame takes a `token` message only when `event.source`
//! is its parent window and `event.origin` equals the token's signed `origin` claim (and the
//! `host` of its URL, when present); anything else is ignored, with no change and no error.
//! A later token (`updateToken`) is taken under the same rule and only for the same
//! workspace (`sub`); a token for another customer is ignored. The server holds the other
//! end: a request from another site's page with this token is refused (CORS above), and the
//! token stays bound to one origin whoever holds it. A 401 (expired or revoked token) shows
//! "Session expired" until a fresh token arrives.
//!
//! **Secrets.** Secret fields (`airbyte_secret`) are password inputs, never filled in: the
//! API reads them as the mask `**********`. On edit, a secret left blank is sent back as the
//! mask, which keeps the stored secret (an omitted field would drop it: the configuration
//! is replaced whole).

use std::sync::{Arc, OnceLock};

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bulkhead::{AllowedOrigin, WorkspaceScope};
use serde::Serialize;

use crate::auth::OrgAuth;
use crate::embedded::{ScopedTokenBody, issue};
use crate::extract::Json;
use crate::openapi::{
    BadRequest, Conflict, Gone, PayloadTooLarge, TooManyRequests, Unauthorized, Unavailable,
    UnsupportedMediaType,
};
use crate::problem::Problem;
use crate::{AppState, ServerConfig};

/// The answer of `POST /api/v1/embedded/widget-token`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WidgetTokenResponse {
    /// base64 of [`WidgetToken`]'s JSON.
    token: String,
}

/// What the widget library decodes from [`WidgetTokenResponse::token`].
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WidgetToken<'a> {
    token: &'a str,
    widget_url: String,
}

/// Get a widget token for a customer
///
/// A scoped token bound to the browser origin `allowed_origin` (required), wrapped with the
/// URL of the widget's page: `{"token": base64(JSON {"token", "widgetUrl"})}`. The body is
/// the scoped-token request's; the token never goes into the URL.
#[utoipa::path(
    post,
    path = "/api/v1/embedded/widget-token",
    tag = "embedded",
    operation_id = "create_widget_token",
    request_body = ScopedTokenBody,
    responses(
        (status = 200, description = "The wrapped widget token.", body = WidgetTokenResponse),
        BadRequest, Unauthorized, Conflict, Gone, PayloadTooLarge, UnsupportedMediaType,
        TooManyRequests, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn widget_token(
    State(state): State<AppState>,
    OrgAuth(org): OrgAuth,
    Json(body): Json<ScopedTokenBody>,
) -> Result<axum::Json<WidgetTokenResponse>, Problem> {
    if body
        .allowed_origin
        .as_ref()
        .is_none_or(serde_json::Value::is_null)
    {
        return Err(Problem::invalid(
            "allowed_origin",
            "invalid allowed_origin: is required: the origin of the page that embeds the \
             widget, like `https://app.example.com`",
        ));
    }
    let issued = issue(&state, org, body).await?;
    let inner = WidgetToken {
        token: issued.token.expose(),
        // The page only: the token reaches the widget's frame by postMessage, never a URL.
        widget_url: format!(
            "{}/widget/",
            state.config.public_url.as_deref().unwrap_or_default()
        ),
    };
    let json = serde_json::to_vec(&inner).map_err(|_| Problem::internal())?;
    Ok(axum::Json(WidgetTokenResponse {
        token: STANDARD.encode(json),
    }))
}

/// Whether a scoped token may use `path`, so that a browser may be allowed to call it:
/// the Embedded API's scoped routes and the v1 routes that take a scoped token. (Routes
/// that take only an org key or an access token are never allowed cross-origin.)
pub(crate) fn is_cors_path(path: &str) -> bool {
    if let Some(rest) = path.strip_prefix("/api/v1/embedded/") {
        return !matches!(rest, "scoped-token" | "widget-token");
    }
    let rest = path
        .strip_prefix("/api/public/v1")
        .or_else(|| path.strip_prefix("/v1"));
    let Some(rest) = rest else { return false };
    ["/sources", "/destinations", "/connections", "/jobs"]
        .iter()
        .any(|base| match rest.strip_prefix(base) {
            Some(tail) => tail.is_empty() || tail.starts_with('/'),
            None => false,
        })
}

/// Where [`OriginGate::admit`] leaves the origin to allow, for [`cors`] to write into the
/// response once the handler has run.
#[derive(Clone, Default)]
pub(crate) struct AllowOrigin(Arc<OnceLock<HeaderValue>>);

const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
const ALLOW_HEADERS: &str = "authorization, content-type";
/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: &str = "600";

/// The CORS middleware (see the module docs).
pub(crate) async fn cors(mut request: Request, next: Next) -> Response {
    let cors_path = is_cors_path(request.uri().path());
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        return vary(cors_path, next.run(request).await);
    };
    let is_preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if is_preflight && cors_path {
        return vary(true, preflight(&origin));
    }
    let allow = AllowOrigin::default();
    request.extensions_mut().insert(allow.clone());
    let mut response = next.run(request).await;
    if cors_path && let Some(origin) = allow.0.get() {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
    vary(cors_path, response)
}

fn vary(cors_path: bool, mut response: Response) -> Response {
    if cors_path {
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

/// The origin in `value` if it is one a widget token can be bound to, exactly as a browser
/// writes it.
fn bindable(value: &HeaderValue) -> Option<AllowedOrigin> {
    let text = value.to_str().ok()?;
    let origin = text.parse::<AllowedOrigin>().ok()?;
    (origin.as_str() == text).then_some(origin)
}

fn preflight(origin: &HeaderValue) -> Response {
    if bindable(origin).is_none() {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "origin-not-allowed",
            "origin not allowed",
        )
        .detail(
            "this origin cannot hold a widget token: use https (http only for localhost), \
             with no path",
        )
        .into_response();
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE),
    );
    for name in [
        "Access-Control-Request-Method",
        "Access-Control-Request-Headers",
    ] {
        headers.append(header::VARY, HeaderValue::from_static(name));
    }
    response
}

/// What the origin check of a scoped-token request needs from the request, taken before its
/// handler runs so that the check itself can run with the engine call, once the token is
/// authenticated ([`crate::auth::ScopedAuth`]): refuses (403) a request from another site's
/// page unless the token is bound to exactly that origin, and then marks the origin to
/// allow. See the module docs.
pub(crate) struct OriginGate(Option<Gate>);

/// A request that came with `Origin`.
struct Gate {
    origin: HeaderValue,
    /// Whether the page is this server's own (decided by the request alone).
    same_origin: bool,
    allow: Option<AllowOrigin>,
}

impl OriginGate {
    /// The gate of the request of `parts`.
    pub(crate) fn of(parts: &Parts, config: &ServerConfig) -> Self {
        Self(parts.headers.get(header::ORIGIN).map(|origin| Gate {
            origin: origin.clone(),
            same_origin: same_origin(&parts.headers, config, origin),
            allow: parts.extensions.get::<AllowOrigin>().cloned(),
        }))
    }

    /// Admits (or refuses) a request whose scoped token gave `ws`; called with every scope
    /// made from a scoped token, before anything is done with it.
    pub(crate) fn admit(&self, ws: &WorkspaceScope) -> Result<(), Problem> {
        let Some(gate) = &self.0 else {
            return Ok(());
        };
        if let Some(bound) = ws.allowed_origin()
            && bound.as_str().as_bytes() == gate.origin.as_bytes()
        {
            if let Some(allow) = &gate.allow {
                let _ = allow.0.set(gate.origin.clone());
            }
            return Ok(());
        }
        if gate.same_origin {
            return Ok(());
        }
        tracing::info!(
            target: "bulkhead::server",
            workspace = %ws.workspace_id(),
            "a scoped token used from an origin it is not bound to was refused"
        );
        let detail = if ws.allowed_origin().is_some() {
            "this widget token is bound to another origin; ask for one with this page's origin \
             as `allowed_origin`"
        } else {
            "this scoped token is not bound to a browser origin; to call the API from a web page, \
             ask for a widget token with the page's origin as `allowed_origin`"
        };
        Err(Problem::new(
            StatusCode::FORBIDDEN,
            "origin-not-allowed",
            "origin not allowed",
        )
        .detail(detail))
    }
}

/// Whether a request with `origin` comes from a page of this server itself (a browser sends
/// `Origin` on a same-origin `POST` too).
fn same_origin(headers: &HeaderMap, config: &ServerConfig, origin: &HeaderValue) -> bool {
    // Set by browsers only, and no script can forge it.
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"same-origin")
    {
        return true;
    }
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if let Some(public) = config.public_url.as_deref()
        && let Some(own) = origin_of(public)
        && own.eq_ignore_ascii_case(origin)
    {
        return true;
    }
    // In a browser, `Host` is where the request really goes: a script cannot set it.
    let authority = origin.split_once("://").map(|(_, a)| a);
    match (authority, headers.get(header::HOST)) {
        (Some(authority), Some(host)) => host
            .to_str()
            .is_ok_and(|host| host.eq_ignore_ascii_case(authority)),
        _ => false,
    }
}

/// `scheme://authority` of a URL.
fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    url.get(..scheme.len() + 3 + authority.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_paths_are_the_routes_a_scoped_token_may_use() {
        for path in [
            "/api/v1/embedded/scoped-token/info",
            "/api/v1/embedded/source-templates",
            "/api/v1/embedded/sources",
            "/api/v1/embedded/sources/abc",
            "/v1/sources",
            "/v1/sources/abc",
            "/api/public/v1/destinations/abc",
            "/v1/connections",
            "/v1/jobs",
            "/api/public/v1/jobs/123",
        ] {
            assert!(is_cors_path(path), "{path}");
        }
        for path in [
            "/api/v1/embedded/scoped-token",
            "/api/v1/embedded/widget-token",
            "/api/v1/workspaces",
            "/v1/workspaces",
            "/v1/applications/token",
            "/v1/sourcesx",
            "/v1/jobsx",
            "/v1/organizations",
            "/v2/sources",
            "/widget/",
        ] {
            assert!(!is_cors_path(path), "{path}");
        }
    }

    #[test]
    fn origin_of_a_public_url() {
        assert_eq!(
            origin_of("https://api.example.com/base"),
            Some("https://api.example.com")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080"),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of("api.example.com"), None);
    }
}
