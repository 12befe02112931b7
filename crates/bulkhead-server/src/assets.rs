//! The web pages' files (the dashboard's and the widget's HTML, CSS and JavaScript modules),
//! compiled into the binary from `crates/bulkhead-server/web/`: no CDN, no build step, nothing
//! to install beside the server.
//!
//! Every file is served the same way by [`respond`]:
//!
//! - its `Content-Type`, and a strong `ETag` (a SHA-256 prefix of its bytes) with
//!   `Cache-Control: no-cache`: a browser keeps the file and revalidates it, and a matching
//!   `If-None-Match` is a `304` without a body, so a new server version is seen at once
//!   without fingerprinted names;
//! - gzip (`Content-Encoding: gzip`, `Vary: Accept-Encoding`) when the request accepts it and
//!   it saves bytes, compressed once, the first time the file is asked for;
//! - an HTML page gets the `Content-Security-Policy` and framing rule its route passes in. The
//!   policies never allow inline script or style: every script and stylesheet is a file of
//!   this table.
//!
//! A name that is not in [`FILES`] is a 404 problem: the table is the whole of what is served,
//! so no request path reaches the file system.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{LazyLock, OnceLock};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::problem::Problem;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// One file of a page.
pub(crate) struct File {
    /// Its name under `web/`, e.g. `dashboard/app.js`.
    pub(crate) name: &'static str,
    /// Its `Content-Type`.
    pub(crate) mime: &'static str,
    /// Its bytes.
    pub(crate) body: &'static [u8],
}

macro_rules! web {
    ($name:literal, $mime:expr) => {
        File {
            name: $name,
            mime: $mime,
            body: include_bytes!(concat!("../web/", $name)),
        }
    };
}

/// Everything the pages are made of.
pub(crate) static FILES: &[File] = &[
    web!("icon.svg", SVG),
    web!("dashboard/index.html", HTML),
    web!("dashboard/app.js", JS),
    web!("dashboard/style.css", CSS),
    web!("dashboard/org.js", JS),
    web!("dashboard/org.css", CSS),
    web!("widget/index.html", HTML),
    web!("widget/frame.js", JS),
    web!("widget/form.js", JS),
    web!("widget/dom.js", JS),
    web!("widget/widget.css", CSS),
    web!("widget/widget.js", JS),
];

/// What is worked out once per file: its entity tag and, lazily, its gzip form.
struct Prepared {
    file: &'static File,
    etag: HeaderValue,
    /// `None` inside when gzip does not make it smaller.
    gzip: OnceLock<Option<Vec<u8>>>,
}

static PREPARED: LazyLock<HashMap<&'static str, Prepared>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|file| {
            let digest = ring::digest::digest(&ring::digest::SHA256, file.body);
            let hex: String = digest
                .as_ref()
                .iter()
                .take(12)
                .map(|b| format!("{b:02x}"))
                .collect();
            let etag = HeaderValue::from_str(&format!("\"{hex}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
            (
                file.name,
                Prepared {
                    file,
                    etag,
                    gzip: OnceLock::new(),
                },
            )
        })
        .collect()
});

impl Prepared {
    fn gzip(&self) -> Option<&[u8]> {
        self.gzip
            .get_or_init(|| {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                encoder.write_all(self.file.body).ok()?;
                let out = encoder.finish().ok()?;
                (out.len() < self.file.body.len()).then_some(out)
            })
            .as_deref()
    }
}

/// How an HTML page may run and be framed; other files ignore it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PagePolicy {
    /// The page's `Content-Security-Policy`.
    pub(crate) csp: &'static str,
    /// Its `X-Frame-Options`, if any (`DENY`); `None` when the policy's `frame-ancestors`
    /// alone decides.
    pub(crate) frame_options: Option<&'static str>,
}

fn no_such_file() -> Response {
    Problem::new(StatusCode::NOT_FOUND, "not-found", "not found")
        .detail("the page has no such file")
        .into_response()
}

/// Whether `headers` accept gzip (`Accept-Encoding` lists it with a non-zero weight).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// Whether `If-None-Match` in `headers` names `etag` (or is `*`).
fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

/// The file `name` (a name of [`FILES`]) as an answer to a request with `headers`; an HTML
/// page under `policy`.
pub(crate) fn respond(name: &str, headers: &HeaderMap, policy: PagePolicy) -> Response {
    let Some(prepared) = PREPARED.get(name) else {
        return no_such_file();
    };
    let file = prepared.file;
    let mut response = if not_modified(headers, &prepared.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match prepared.gzip().filter(|_| accepts_gzip(headers)) {
            Some(gzip) => {
                let mut response = gzip.to_vec().into_response();
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                response
            }
            None => file.body.into_response(),
        }
    };
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.mime));
    out.insert(header::ETAG, prepared.etag.clone());
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if file.mime == HTML {
        out.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(policy.csp),
        );
        if let Some(frame) = policy.frame_options {
            out.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static(frame));
        }
    }
    response
}

/// The file `dir/name`, when `name` is one plain file name (no `/`, no `..`) of the table.
pub(crate) fn in_dir(dir: &str, name: &str, headers: &HeaderMap, policy: PagePolicy) -> Response {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return no_such_file();
    }
    respond(&format!("{dir}/{name}"), headers, policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    const POLICY: PagePolicy = PagePolicy {
        csp: "default-src 'none'",
        frame_options: Some("DENY"),
    };

    #[test]
    fn every_file_of_the_table_is_found_and_named_once() {
        let mut names: Vec<&str> = FILES.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FILES.len());
        for file in FILES {
            let response = respond(file.name, &HeaderMap::new(), POLICY);
            assert_eq!(response.status(), StatusCode::OK, "{}", file.name);
        }
    }

    #[test]
    fn gzip_is_given_only_to_who_accepts_it() {
        assert!(accepts_gzip(&headers(&[(
            header::ACCEPT_ENCODING,
            "br, gzip;q=0.8"
        )])));
        assert!(!accepts_gzip(&headers(&[(
            header::ACCEPT_ENCODING,
            "gzip;q=0, br"
        )])));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn a_known_etag_is_a_304_and_another_is_the_file() {
        let name = "dashboard/index.html";
        let first = respond(name, &HeaderMap::new(), POLICY);
        let etag = first
            .headers()
            .get(header::ETAG)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("missing"));
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(
            respond(name, &again, POLICY).status(),
            StatusCode::NOT_MODIFIED
        );
        let other = headers(&[(header::IF_NONE_MATCH, "\"other\"")]);
        assert_eq!(respond(name, &other, POLICY).status(), StatusCode::OK);
    }

    #[test]
    fn names_outside_the_table_are_not_found() {
        for name in ["../Cargo.toml", ".hidden", "a/b", ""] {
            let response = in_dir("dashboard", name, &HeaderMap::new(), POLICY);
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{name}");
        }
    }
}
