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
fn serde_problem(place: &str, message: &str, is_data: bool) -> Problem {
    let field = backticked_field(message).unwrap_or(place);
    let detail = if is_data {
        // serde's own words, without the position: they name the field and what was wrong.
        message
            .split(" at line ")
            .next()
            .unwrap_or(message)
            .to_owned()
    } else {
        format!("the {place} is not valid JSON: {message}")
    };
    Problem::invalid(field, detail)
}

/// The first name in backticks after the word `field` in a serde message.
fn backticked_field(message: &str) -> Option<&str> {
    let rest = message.split("field `").nth(1)?;
    rest.split('`').next().filter(|f| !f.is_empty())
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
