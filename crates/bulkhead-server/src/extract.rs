//! Request parsing that fails as problem JSON naming the field: JSON bodies, query strings,
//! ids in paths. axum's own extractors answer in plain text; these answer like every other
//! error of the API.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A JSON body: `Content-Type: application/json` required, unknown fields refused by the
/// target type, a malformed or mistyped body a 400 naming the field when serde names one.
#[derive(Debug)]
pub(crate) struct Json<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(Problem::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "unsupported media type",
            )
            .detail("send the body as JSON with `Content-Type: application/json`"));
        }
        // A body over the router's limit fails here; `problemize` gives it its 413 body.
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| Problem::for_status(rejection.status()))?;
        serde_json::from_slice(&bytes)
            .map(Json)
            .map_err(|err| serde_problem("body", &err.to_string(), err.is_data()))
    }
}

/// A body in JSON (`application/json`) or form encoding
/// (`application/x-www-form-urlencoded`), as OAuth token requests come: the `airbyte-api` SDK
/// sends a form, Airbyte's demos JSON. Any other content type is a 415.
#[derive(Debug)]
pub(crate) struct JsonOrForm<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonOrForm<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let mime = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if mime == "application/x-www-form-urlencoded" {
            let bytes = Bytes::from_request(req, state)
                .await
                .map_err(|rejection| Problem::for_status(rejection.status()))?;
            serde_urlencoded::from_bytes(&bytes)
                .map(JsonOrForm)
                .map_err(|err| serde_problem("body", &err.to_string(), true))
        } else if mime == "application/json" {
            Json::from_request(req, state)
                .await
                .map(|Json(body)| JsonOrForm(body))
        } else {
            Err(Problem::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "unsupported media type",
            )
            .detail("send the body as `application/json` or `application/x-www-form-urlencoded`"))
        }
    }
}

/// A query string parsed into `T` (which should deny unknown fields: a parameter this server
/// does not know is refused, never silently ignored).
#[derive(Debug)]
pub(crate) struct Query<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(Query)
            .map_err(|err| serde_problem("query", &err.to_string(), true))
    }
}

/// A 400 from a serde message, naming the field when the message does (`missing field
/// `external_id``, `unknown field `foo``).
///
/// serde quotes the offending value (`invalid type: string "sk_live_…", expected u32`) and an
/// unknown key as given: either may be a secret or a token sent in the wrong place, so the
/// answer keeps serde's words but never the request's own text, and names an unknown key only
/// when it looks like a field name.
fn serde_problem(place: &str, message: &str, is_data: bool) -> Problem {
    let message = message.split(" at line ").next().unwrap_or(message);
    let field = backticked_field(message)
        .filter(|f| is_nameable(f))
        .unwrap_or(place);
    let detail = if is_data {
        without_values(message)
    } else {
        format!("the {place} is not valid JSON: {}", without_values(message))
    };
    Problem::invalid(field, detail)
}

/// The first name in backticks after the word `field` in a serde message.
fn backticked_field(message: &str) -> Option<&str> {
    let rest = message.split("field `").nth(1)?;
    rest.split('`').next().filter(|f| !f.is_empty())
}

/// Whether a key from the request may be echoed as a field name: short, plain, and not the
/// shape of a credential.
fn is_nameable(key: &str) -> bool {
    key.len() <= 40
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && !crate::problem::looks_like_credential(key)
}

/// A serde message with the request's values taken out: `invalid type: string "x", expected
/// u32` becomes `invalid type, expected u32`; an unknown key that is not a plain name is not
/// repeated.
fn without_values(message: &str) -> String {
    for kind in ["invalid type", "invalid value", "unknown variant"] {
        if message.starts_with(kind) {
            return match message.split_once(", expected ") {
                Some((_, expected)) => format!("{kind}, expected {expected}"),
                None => kind.to_owned(),
            };
        }
    }
    if let Some(key) = backticked_field(message)
        && !is_nameable(key)
    {
        let rest = message.split_once(&format!("`{key}`")).map(|(_, r)| r);
        return format!("{}{}", "unknown field", rest.unwrap_or_default());
    }
    message.to_owned()
}

/// Parses an id from a path segment, or a 400 naming the field.
pub(crate) fn path_id<T: std::str::FromStr>(field: &'static str, raw: &str) -> Result<T, Problem> {
    raw.parse()
        .map_err(|_| Problem::invalid(field, format!("invalid {field}: is not a uuid")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_never_repeat_the_request_values() {
        let p = serde_problem(
            "body",
            "invalid type: string \"sk_live_x\", expected u32 at line 1 column 9",
            true,
        );
        let text = format!("{p:?}");
        assert!(!text.contains("sk_live_x"), "{text}");
        assert!(text.contains("invalid type, expected u32"), "{text}");
        let p = serde_problem(
            "body",
            "unknown field `bh_org_AAAAAAAAAAAAAAAAAAAAAA`, expected `client_id`",
            true,
        );
        let text = format!("{p:?}");
        assert!(!text.contains("bh_org_"), "{text}");
        assert!(
            text.contains("unknown field, expected `client_id`"),
            "{text}"
        );
        let p = serde_problem("body", "unknown field `nmae`, expected `name`", true);
        assert!(format!("{p:?}").contains("unknown field `nmae`"));
    }

    #[test]
    fn serde_messages_name_their_field() {
        assert_eq!(
            backticked_field("missing field `external_id` at line 1 column 2"),
            Some("external_id")
        );
        assert_eq!(
            backticked_field("unknown field `foo`, expected one of"),
            Some("foo")
        );
        assert_eq!(backticked_field("expected value"), None);
    }
}
