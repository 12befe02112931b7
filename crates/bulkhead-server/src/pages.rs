//! The routes of the web pages: the organization's dashboard under `/dashboard/` and the
//! customer's widget under `/widget/`, their files served by [`crate::assets`].
//!
//! # The widget's page and who may frame it
//!
//! `widget.js` (loaded by the host application's page with a plain `<script src>`) opens a
//! modal dialog with an `<iframe>` on `/widget/?host=<the host page's origin>`. The token is
//! never in that URL; `host` is not a secret, only the origin the page will be framed by.
//! The page is answered with `frame-ancestors <host>` when `host` is an origin a widget token
//! can be bound to (`https://…`, or `http://` on a loopback host; see
//! [`bulkhead::AllowedOrigin`]), and `frame-ancestors 'none'` otherwise: the browser itself
//! refuses to show the widget inside any page but the one named (so a host page must be the
//! top-level page, or framed by its own origin only). Naming another origin gains an
//! attacker nothing: the page then waits for a token bound to that origin, posted by that
//! origin, which only the organization can mint. The message protocol and its origin
//! rules are in the `widget` module.
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::assets::{self, PagePolicy};
use crate::openapi::NotFound;

/// The dashboard: its own scripts, styles and API, never framed.
pub(crate) const DASHBOARD: PagePolicy = PagePolicy {
    csp: "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
          img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    frame_options: Some("DENY"),
};

/// The widget's files. Its scripts and stylesheet are loaded by its page and, for
/// `widget.js`, by the host's page on another origin; the page itself is answered under
/// [`widget_page_policy`], which narrows `frame-ancestors` to the host named in its URL.
pub(crate) const WIDGET: PagePolicy = PagePolicy {
    csp: "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
          img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
    frame_options: None,
};

/// The widget page's policy without its `frame-ancestors`.
const WIDGET_PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; form-action 'none'; base-uri 'none'";

/// The widget page's `Content-Security-Policy` for the query `query`: framed only by the
/// origin its `host` parameter names, when that is an origin a widget token can be bound to,
/// else by nothing.
pub(crate) fn widget_page_policy(query: Option<&str>) -> String {
    let host = query
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "host"))
        .and_then(|(_, v)| {
            let origin = v.parse::<bulkhead::AllowedOrigin>().ok()?;
            // Exactly as a browser writes it: `frame-ancestors` gets no surprises.
            (origin.as_str() == v).then_some(v)
        });
    match host {
        Some(origin) => format!("{WIDGET_PAGE_CSP}; frame-ancestors {origin}"),
        None => format!("{WIDGET_PAGE_CSP}; frame-ancestors 'none'"),
    }
}

/// The dashboard's address without its slash
#[utoipa::path(
    get,
    path = "/dashboard",
    tag = "pages",
    operation_id = "dashboard_redirect",
    responses((status = 308, description = "To `/dashboard/`.")),
)]
pub(crate) async fn dashboard_redirect() -> Response {
    let mut response = StatusCode::PERMANENT_REDIRECT.into_response();
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/dashboard/"));
    response
}

/// The organization's dashboard
///
/// The page; it signs in with the organization's key and reads everything through the API.
#[utoipa::path(
    get,
    path = "/dashboard/",
    tag = "pages",
    operation_id = "dashboard_page",
    responses(
        (status = 200, description = "The page, with a strict `Content-Security-Policy`.", content_type = "text/html", body = String),
        (status = 304, description = "Not modified since the `ETag` sent."),
    ),
)]
pub(crate) async fn dashboard_page(headers: HeaderMap) -> Response {
    assets::respond("dashboard/index.html", &headers, DASHBOARD)
}

/// A file of the dashboard
#[utoipa::path(
    get,
    path = "/dashboard/{file}",
    tag = "pages",
    operation_id = "dashboard_file",
    params(("file" = String, Path, description = "A script or stylesheet of the page.")),
    responses(
        (status = 200, description = "The file.", body = String),
        (status = 304, description = "Not modified since the `ETag` sent."),
        NotFound,
    ),
)]
pub(crate) async fn dashboard_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    assets::in_dir("dashboard", &file, &headers, DASHBOARD)
}

/// The widget's page
///
/// What the widget's dialog frames; it waits for the scoped token by `postMessage`. Only the
/// page of the origin `host` names may frame it.
#[utoipa::path(
    get,
    path = "/widget/",
    tag = "pages",
    operation_id = "widget_page",
    params(("host" = Option<String>, Query, description = "The origin of the page that frames the widget (`https://app.example.com`), the only one its `frame-ancestors` allows; not a secret. Without it, or with a value that is not such an origin, the page may not be framed.")),
    responses(
        (status = 200, description = "The page, with a strict `Content-Security-Policy`.", content_type = "text/html", body = String),
        (status = 304, description = "Not modified since the `ETag` sent."),
    ),
)]
pub(crate) async fn widget_page(uri: Uri, headers: HeaderMap) -> Response {
    let mut response = assets::respond("widget/index.html", &headers, WIDGET);
    if let Ok(csp) = HeaderValue::from_str(&widget_page_policy(uri.query())) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// A file of the widget
///
/// `widget.js` is the library a host page loads; the others belong to the framed page.
#[utoipa::path(
    get,
    path = "/widget/{file}",
    tag = "pages",
    operation_id = "widget_file",
    params(("file" = String, Path, description = "A script or stylesheet of the widget.")),
    responses(
        (status = 200, description = "The file.", body = String),
        (status = 304, description = "Not modified since the `ETag` sent."),
        NotFound,
    ),
)]
pub(crate) async fn widget_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    assets::in_dir("widget", &file, &headers, WIDGET)
}

/// The pages' icon
#[utoipa::path(
    get,
    path = "/favicon.ico",
    tag = "pages",
    operation_id = "favicon",
    responses(
        (status = 200, description = "An SVG image.", content_type = "image/svg+xml", body = String),
        (status = 304, description = "Not modified since the `ETag` sent."),
    ),
)]
pub(crate) async fn favicon(headers: HeaderMap) -> Response {
    assets::respond("icon.svg", &headers, DASHBOARD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_widget_page_is_framed_only_by_the_host_its_url_names() {
        assert!(
            widget_page_policy(Some("host=https%3A%2F%2Fapp.example.com"))
                .ends_with("; frame-ancestors https://app.example.com")
        );
        assert!(
            widget_page_policy(Some("host=http://localhost:5173"))
                .ends_with("; frame-ancestors http://localhost:5173")
        );
        for query in [
            None,
            Some(""),
            Some("host="),
            Some("host=http://app.example.com"),
            Some("host=https://app.example.com/"),
            Some("host=https://App.example.com"),
            Some("host=*"),
            Some("host=https://a.example;%20script-src%20*"),
            Some("other=https://app.example.com"),
        ] {
            assert!(
                widget_page_policy(query).ends_with("; frame-ancestors 'none'"),
                "{query:?}"
            );
        }
    }
}
