//! The routes of the web pages: the organization's dashboard under `/dashboard/` and the
//! customer's widget under `/widget/`, their files served by [`crate::assets`].

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::assets::{self, PagePolicy};
use crate::openapi::NotFound;

/// The dashboard: its own scripts, styles and API, never framed.
pub(crate) const DASHBOARD: PagePolicy = PagePolicy {
    csp: "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
          img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    frame_options: Some("DENY"),
};

/// The widget's files. Its page is framed by the host's page, an origin only the token it
/// receives names, so `frame-ancestors` allows any web origin and the page trusts nothing
/// until a token arrives by `postMessage` from the origin that token is bound to.
pub(crate) const WIDGET: PagePolicy = PagePolicy {
    csp: "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
          img-src 'self' data:; form-action 'none'; base-uri 'none'; \
          frame-ancestors http: https:",
    frame_options: None,
};

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
/// What the widget's dialog frames; it waits for the scoped token by `postMessage`.
#[utoipa::path(
    get,
    path = "/widget/",
    tag = "pages",
    operation_id = "widget_page",
    responses(
        (status = 200, description = "The page, with a strict `Content-Security-Policy`.", content_type = "text/html", body = String),
        (status = 304, description = "Not modified since the `ETag` sent."),
    ),
)]
pub(crate) async fn widget_page(headers: HeaderMap) -> Response {
    assets::respond("widget/index.html", &headers, WIDGET)
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
