//! The API docs page, `GET /api/v1/docs`, served from the binary: no CDN, nothing inline.
//!
//! The page is HTML rendered here from the OpenAPI document (every operation's method, path,
//! summary, description and credentials), so it reads without its script. Its ES module
//! (`docs.js`) fetches `openapi.json` and adds a filter and, inside each operation, its
//! parameters, body and responses; `docs.css` is the one stylesheet. The page's
//! `Content-Security-Policy` lets it load only those two files and fetch only this origin.

use std::fmt::Write as _;
use std::sync::LazyLock;

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::openapi::document;

/// Nothing but this origin's own script, stylesheet and document.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

const SCRIPT: &str = include_str!("docs/docs.js");
const STYLE: &str = include_str!("docs/docs.css");

/// The page, rendered once.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    let doc = serde_json::to_value(document()).unwrap_or(Value::Null);
    render(&doc)
});

/// `text` with HTML's special characters escaped, for text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The value at the JSON pointer `pointer` in `value`, or null.
fn at<'a>(value: &'a Value, pointer: &str) -> &'a Value {
    value.pointer(pointer).unwrap_or(&Value::Null)
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The page for the document `doc`: one section per tag, one `<details>` per operation.
fn render(doc: &Value) -> String {
    let text = |v: &Value| escape(v.as_str().unwrap_or_default());
    let mut operations: Vec<(&str, &str, &Value)> = Vec::new();
    if let Some(paths) = at(doc, "/paths").as_object() {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(operation) = item.get(method) {
                    operations.push((path, method, operation));
                }
            }
        }
    }
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} API</title>\n\
         <link rel=\"stylesheet\" href=\"docs/docs.css\">\n\
         <script type=\"module\" src=\"docs/docs.js\"></script>\n</head>\n<body>\n<header>\n\
         <h1>{title} API <span class=\"version\">{version}</span></h1>\n\
         <p>Generated from the code; the machine-readable form is \
         <a href=\"openapi.json\">the OpenAPI 3.1 document</a>. Every <code>/v1</code> route \
         is also served under <code>/api/public/v1</code>.</p>\n\
         <p class=\"filter\" hidden><label>Filter <input id=\"filter\" type=\"search\" \
         placeholder=\"path, summary or tag\"></label></p>\n</header>\n<main>\n",
        title = text(at(doc, "/info/title")),
        version = text(at(doc, "/info/version")),
    );
    // One section per declared tag, in the document's order, then one for the rest: each
    // operation shows once, under its first declared tag.
    let mut sections: Vec<(&str, &str)> = at(doc, "/tags")
        .as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| {
                    let name = at(t, "/name").as_str().unwrap_or_default();
                    (name, at(t, "/description").as_str().unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default();
    let declared = sections.len();
    sections.push(("other", "Operations under no tag above."));
    let section_of = |operation: &Value| {
        let tags = at(operation, "/tags").as_array();
        sections
            .iter()
            .take(declared)
            .position(|(name, _)| tags.is_some_and(|t| t.iter().any(|t| t == name)))
            .unwrap_or(declared)
    };
    for (index, (name, description)) in sections.iter().enumerate() {
        let mine: Vec<_> = operations
            .iter()
            .filter(|(_, _, op)| section_of(op) == index)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let _ = write!(
            page,
            "<section class=\"tag\">\n<h2>{}</h2>\n<p>{}</p>\n",
            escape(name),
            escape(description),
        );
        for (path, method, operation) in mine {
            let credentials: Vec<String> = at(operation, "/security")
                .as_array()
                .map(|reqs| {
                    reqs.iter()
                        .filter_map(Value::as_object)
                        .flat_map(|req| req.keys().map(|k| escape(k)))
                        .collect()
                })
                .unwrap_or_default();
            let credentials = if credentials.is_empty() {
                "none".to_owned()
            } else {
                credentials.join(", ")
            };
            let _ = write!(
                page,
                "<details class=\"operation\" data-operation=\"{id}\">\n<summary>\
                 <span class=\"method {method}\">{upper}</span> <code class=\"path\">{path}</code> \
                 <span class=\"summary\">{summary}</span></summary>\n\
                 <div class=\"detail\">\n<p class=\"description\">{description}</p>\n\
                 <p class=\"credentials\">Credentials: {credentials}</p>\n</div>\n</details>\n",
                id = text(at(operation, "/operationId")),
                upper = method.to_uppercase(),
                path = escape(path),
                summary = text(at(operation, "/summary")),
                description = text(at(operation, "/description")),
            );
        }
        page.push_str("</section>\n");
    }
    page.push_str("</main>\n</body>\n</html>\n");
    page
}

/// A static asset with its content type, never sniffed.
fn asset(content_type: &'static str, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The API docs page
///
/// Every operation of the OpenAPI document, readable without script; no credential.
#[utoipa::path(
    get,
    path = "/api/v1/docs",
    tag = "meta",
    operation_id = "docs_page",
    responses(
        (status = 200, description = "The page, with a strict `Content-Security-Policy`.", content_type = "text/html", body = String),
    ),
)]
pub(crate) async fn page() -> Response {
    let mut response = asset("text/html; charset=utf-8", PAGE.as_str());
    response.headers_mut().insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(CSP),
    );
    response
}

/// The docs page's script
///
/// An ES module: the filter and each operation's parameters, body and responses.
#[utoipa::path(
    get,
    path = "/api/v1/docs/docs.js",
    tag = "meta",
    operation_id = "docs_script",
    responses(
        (status = 200, description = "The module.", content_type = "text/javascript", body = String),
    ),
)]
pub(crate) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// The docs page's stylesheet
#[utoipa::path(
    get,
    path = "/api/v1/docs/docs.css",
    tag = "meta",
    operation_id = "docs_stylesheet",
    responses(
        (status = 200, description = "The stylesheet.", content_type = "text/css", body = String),
    ),
)]
pub(crate) async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_document_is_escaped() {
        assert_eq!(
            escape(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        let doc = serde_json::json!({
            "info": {"title": "<b>", "version": "1"},
            "tags": [{"name": "t", "description": "d"}],
            "paths": {"/x": {"get": {"tags": ["t"], "operationId": "x\"y", "summary": "<i>"}}},
        });
        let page = render(&doc);
        assert!(!page.contains("<b>") && !page.contains("<i>"), "{page}");
        assert!(page.contains("data-operation=\"x&quot;y\""), "{page}");
    }

    #[test]
    fn an_operation_shows_once_and_an_undeclared_tag_is_not_dropped() {
        let doc = serde_json::json!({
            "tags": [{"name": "a"}, {"name": "b"}],
            "paths": {
                "/both": {"get": {"tags": ["b", "a"], "operationId": "both"}},
                "/new": {"get": {"tags": ["jobs"], "operationId": "new"}},
            },
        });
        let page = render(&doc);
        assert_eq!(page.matches("data-operation=\"both\"").count(), 1, "{page}");
        assert!(page.contains("<h2>other</h2>"), "{page}");
        assert!(page.contains("data-operation=\"new\""), "{page}");
    }
}
