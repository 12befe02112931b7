//! The web pages' files over HTTP (types, caching, gzip, policies) and the browser harness
//! itself: the API docs page opened in a real headless Chromium with a quiet console.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::browser;
use crate::support;

use browser::Browser;
use support::Server;

#[tokio::test]
async fn page_files_are_typed_revalidated_and_gzipped_when_asked() {
    let server = Server::start().await;
    let http = reqwest::Client::new();
    for (path, mime) in [
        ("/dashboard/", "text/html; charset=utf-8"),
        ("/dashboard/app.js", "text/javascript; charset=utf-8"),
        ("/dashboard/style.css", "text/css; charset=utf-8"),
        ("/widget/", "text/html; charset=utf-8"),
        ("/widget/widget.js", "text/javascript; charset=utf-8"),
    ] {
        let response = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], mime, "{path}");
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        let etag = headers["etag"].to_str().unwrap().to_owned();
        let again = http
            .get(server.url(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert!(again.bytes().await.unwrap().is_empty(), "{path}");
    }
    let page = http.get(server.url("/dashboard/")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(server.url("/dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/dashboard/");
    for missing in [
        "/dashboard/nope.js",
        "/dashboard/..%2FCargo.toml",
        "/widget/.env",
    ] {
        let response = http.get(server.url(missing)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{missing}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{missing}"
        );
    }
}

#[tokio::test]
async fn a_page_comes_gzipped_to_a_client_that_accepts_gzip_and_plain_to_others() {
    use std::io::Read as _;
    let server = Server::start().await;
    // reqwest here has no decompression: the bytes are what the server sent.
    let http = reqwest::Client::new();
    let plain = http.get(server.url("/dashboard/")).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    let gzip = http
        .get(server.url("/dashboard/"))
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzip.headers()["vary"], "Accept-Encoding");
    assert_eq!(gzip.headers()["content-encoding"], "gzip");
    let body = gzip.bytes().await.unwrap();
    assert!(body.len() < plain.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain);
}

#[tokio::test]
async fn the_docs_page_renders_in_chromium_with_a_quiet_console() {
    let server = Server::start().await;
    let browser = Browser::start().await;
    browser.goto(&server.url("/api/v1/docs")).await;
    let heading = browser.find("h1").await.text().await.unwrap();
    assert!(!heading.is_empty());
    browser.shot("docs").await;
    browser.assert_quiet_console().await;
    browser.close().await;
}
