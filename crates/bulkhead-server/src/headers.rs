//! Security headers on every response.
//!
//! - `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`, always;
//! - `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'` and
//!   `X-Frame-Options: DENY`, unless the handler set its own policy: an API answer is data,
//!   never a page to render or frame, while an HTML page (the dashboard, the widget) sets the
//!   policy and framing rules it needs and keeps them (the widget's page, framed by its
//!   host, has no `X-Frame-Options`);
//! - `Cache-Control: no-store` unless the handler set its own: answers carry tenant data,
//!   tokens (`POST /api/v1/embedded/scoped-token`, `POST /v1/applications/token`) and masked
//!   configurations, none of which a shared cache may keep;
//! - `Strict-Transport-Security: max-age=31536000` only when
//!   [`ServerConfig::public_url`](crate::ServerConfig::public_url) is `https://`: over plain
//!   HTTP the header means nothing, and a host on HTTPS says so through its public URL.

use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::Response;

use crate::ServerConfig;

/// The headers this router adds, decided once from the configuration.
#[derive(Clone, Copy)]
struct Policy {
    hsts: bool,
}

const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
const HSTS: &str = "max-age=31536000";

fn set_if_absent(headers: &mut HeaderMap, name: HeaderName, value: &'static str) {
    if !headers.contains_key(&name) {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

fn secure(policy: Policy, mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // A response without a policy of its own is data: never rendered, never framed. A page
    // that sets its policy decides its framing with it (`frame-ancestors`), and keeps
    // `X-Frame-Options` only if it set one: the widget's page is framed by its host, and a
    // browser that honours `X-Frame-Options: DENY` over `frame-ancestors` would refuse it.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_CSP),
        );
        set_if_absent(headers, header::X_FRAME_OPTIONS, "DENY");
    }
    set_if_absent(headers, header::CACHE_CONTROL, "no-store");
    if policy.hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}

/// Wraps `router` so that every response, errors and shed requests included, carries the
/// security headers.
/// The headers every answer carries, on one written outside the router (hyper's own errors,
/// see `conn`): no HSTS, which needs the router's configuration.
pub(crate) fn secure_default(response: Response) -> Response {
    secure(Policy { hsts: false }, response)
}

pub(crate) fn layer(router: Router, config: &ServerConfig) -> Router {
    let policy = Policy {
        hsts: config.public_url.as_deref().is_some_and(|url| {
            url.get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        }),
    };
    router.layer(axum::middleware::map_response(move |response: Response| {
        std::future::ready(secure(policy, response))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    #[test]
    fn a_page_keeps_its_own_policy_and_framing() {
        let mut page = "<p>hi</p>".into_response();
        let headers = page.headers_mut();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'"),
        );
        headers.insert(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        );
        let page = secure(Policy { hsts: false }, page);
        assert_eq!(
            page.headers().get(header::CONTENT_SECURITY_POLICY),
            Some(&HeaderValue::from_static("default-src 'self'"))
        );
        assert_eq!(
            page.headers().get(header::X_FRAME_OPTIONS),
            Some(&HeaderValue::from_static("SAMEORIGIN"))
        );
        assert_eq!(
            page.headers().get(header::X_CONTENT_TYPE_OPTIONS),
            Some(&HeaderValue::from_static("nosniff"))
        );
        assert!(
            !page
                .headers()
                .contains_key(header::STRICT_TRANSPORT_SECURITY)
        );
    }

    #[test]
    fn a_page_with_its_own_policy_and_no_frame_options_gets_none() {
        let mut page = "<p>framed</p>".into_response();
        page.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors https://host.example"),
        );
        let page = secure(Policy { hsts: false }, page);
        assert!(!page.headers().contains_key(header::X_FRAME_OPTIONS));
        let data = secure(Policy { hsts: false }, "{}".into_response());
        assert_eq!(
            data.headers().get(header::X_FRAME_OPTIONS),
            Some(&HeaderValue::from_static("DENY"))
        );
        assert_eq!(
            data.headers().get(header::CONTENT_SECURITY_POLICY),
            Some(&HeaderValue::from_static(API_CSP))
        );
    }
}
