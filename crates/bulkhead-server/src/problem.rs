//! Every failure as RFC 9457 problem JSON (`application/problem+json`).
//!
//! [`Problem::from`] maps the library's error kinds to statuses; [`problemize`] rewrites any
//! other error response (axum's plain-text rejections, an unknown route or method, tower-http's
//! body limit and timeout) into the same shape, so a client never has to parse two formats.
//!
//! A body never carries a secret, a token, a stack trace or another tenant's id: not-found
//! names the kind of object only (so another tenant's id and a missing one give the same
//! bytes), and an isolation breach, a crypto failure or a storage failure says nothing of its
//! cause.

use std::borrow::Cow;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bulkhead::Error;
use serde::Serialize;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One problem: the body of every error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// What kind of problem: `urn:bulkhead:problem:` and a slug (`not-found`,
    /// `invalid-input`, `unauthorized`, ...), stable for a client to branch on.
    #[serde(rename = "type")]
    #[schema(value_type = String, format = "uri")]
    kind: Cow<'static, str>,
    /// A short, fixed summary of the kind.
    #[schema(value_type = String)]
    title: Cow<'static, str>,
    /// The HTTP status, repeated.
    status: u16,
    /// What went wrong in this request, in words a user can act on.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    detail: Option<String>,
    /// The request field at fault, for invalid input (`external_id`, `schedule.cronExpression`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    field: Option<String>,
    #[serde(skip)]
    retry_after: Option<Duration>,
}

impl Problem {
    /// A problem of `status` with a short slug (`not-found`) naming its type.
    pub(crate) fn new(status: StatusCode, slug: &'static str, title: &'static str) -> Self {
        Self {
            kind: Cow::Owned(format!("urn:bulkhead:problem:{slug}")),
            title: Cow::Borrowed(title),
            status: status.as_u16(),
            detail: None,
            field: None,
            retry_after: None,
        }
    }

    /// The same problem with a detail a user can act on.
    pub(crate) fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The same problem naming the request field at fault.
    pub(crate) fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The same problem with a `Retry-After` header (whole seconds, rounded up).
    pub(crate) fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// A 400 for the request field `field`.
    pub(crate) fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-input", "invalid input")
            .field(field)
            .detail(detail)
    }

    /// A 401: the credential is missing, malformed, wrong for this route, or expired.
    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "invalid or missing credential",
        )
        .detail(detail)
    }

    /// A 500 that says nothing of its cause.
    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    /// The same problem with its field renamed from the engine's name (`config`) to the
    /// request's (`source_config`).
    pub(crate) fn rename_field(mut self, from: &str, to: &str) -> Self {
        if let Some(rest) = self.field.as_deref().and_then(|f| f.strip_prefix(from)) {
            self.field = Some(format!("{to}{rest}"));
        }
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The generic problem for a status that no handler produced itself.
    pub(crate) fn for_status(status: StatusCode) -> Self {
        let (slug, title, detail) = match status {
            StatusCode::NOT_FOUND => ("no-route", "not found", "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method-not-allowed",
                "method not allowed",
                "this route does not take this method; see the `Allow` header",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                "too-large",
                "request body too large",
                "the request body is larger than this server accepts",
            ),
            StatusCode::REQUEST_TIMEOUT => (
                "timeout",
                "request timeout",
                "the request took longer than this server allows",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported-media-type",
                "unsupported media type",
                "send `Content-Type: application/json`",
            ),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
                "header-fields-too-large",
                "request header fields too large",
                "the request's head (its header fields, or their number) is larger than this \
                 server reads",
            ),
            StatusCode::URI_TOO_LONG => (
                "uri-too-long",
                "request target too long",
                "the request's path and query are longer than this server reads",
            ),
            s if s.is_client_error() => ("bad-request", "bad request", "the request is malformed"),
            _ => ("internal", "internal error", ""),
        };
        let problem = Self::new(status, slug, title);
        if detail.is_empty() {
            problem
        } else {
            problem.detail(detail)
        }
    }
}

impl From<Error> for Problem {
    fn from(err: Error) -> Self {
        match &err {
            Error::NotFound { kind, .. } => {
                // The kind only, never the id: a foreign id and a missing one answer alike.
                Self::new(StatusCode::NOT_FOUND, "not-found", "not found")
                    .detail(format!("{kind} not found"))
            }
            Error::ExternalIdNotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, "not-found", "not found").detail(err.to_string())
            }
            Error::InvalidInput { field, .. } => Self::invalid(field.to_string(), err.to_string()),
            Error::Conflict { .. } => {
                Self::new(StatusCode::CONFLICT, "conflict", "conflict").detail(err.to_string())
            }
            // Airbyte's `try-again-later`: the same request succeeds once the run has ended.
            Error::SyncAlreadyRunning { .. } => Self::new(
                StatusCode::CONFLICT,
                "try-again-later",
                "a sync is already running",
            )
            .detail(err.to_string()),
            Error::PermissionDenied { .. } => Self::new(
                StatusCode::FORBIDDEN,
                "permission-denied",
                "permission denied",
            )
            .detail(err.to_string()),
            Error::InvalidOrgKey { .. }
            | Error::InvalidToken { .. }
            | Error::TokenExpired { .. } => Self::unauthorized(err.to_string()),
            Error::RateLimited { retry_after } => {
                let mut problem = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    "rate limited",
                )
                .detail(err.to_string());
                problem.retry_after = Some(*retry_after);
                problem
            }
            Error::WorkspaceDeleted { .. } => {
                Self::new(StatusCode::GONE, "workspace-deleted", "workspace deleted")
                    .detail(err.to_string())
            }
            // A worker's lease no longer holds: it must stop (the job is fenced).
            Error::LeaseLost { .. } => {
                Self::new(StatusCode::CONFLICT, "lease-lost", "lease lost").detail(err.to_string())
            }
            Error::WorkspaceInactive { .. } => Self::new(
                StatusCode::CONFLICT,
                "workspace-inactive",
                "workspace inactive",
            )
            .detail(err.to_string()),
            Error::Storage(_) => {
                tracing::warn!(target: "bulkhead::server", "storage failure answered 503");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "service unavailable",
                )
                .detail("storage is unavailable; retry later")
            }
            Error::IsolationBreach { .. } => {
                tracing::error!(target: "bulkhead::server", "isolation breach answered 500");
                Self::internal()
            }
            _ => {
                tracing::error!(target: "bulkhead::server", "internal failure answered 500");
                Self::internal()
            }
        }
    }
}

/// How every credential of this server begins: an org key (`bh_org_`), a worker key
/// (`bh_wkr_`), an access token (`bh_at_`) or a JWT (`eyJ`, a base64url JSON header).
const CREDENTIAL_PREFIXES: [&str; 4] = ["bh_org_", "bh_wkr_", "bh_at_", "eyJ"];

/// Whether `text` begins like a credential of this server (see [`CREDENTIAL_PREFIXES`]).
pub(crate) fn looks_like_credential(text: &str) -> bool {
    CREDENTIAL_PREFIXES
        .iter()
        .any(|prefix| text.starts_with(prefix))
}

/// `text` with every credential-shaped word replaced by `[redacted]`: the last line of
/// defence, should a message ever quote a request value that was a key or a token.
fn redact_credentials(text: &str) -> Cow<'_, str> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if !CREDENTIAL_PREFIXES.iter().any(|p| text.contains(p)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, _)) = rest
        .char_indices()
        .find(|&(i, _)| rest.get(i..).is_some_and(looks_like_credential))
    {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let end = from.find(|c: char| !is_word(c)).unwrap_or(from.len());
        out.push_str("[redacted]");
        rest = from.get(end..).unwrap_or_default();
    }
    out.push_str(rest);
    Cow::Owned(out)
}

impl Problem {
    /// The problem document as JSON, for an answer written without a `Response` (hyper's own
    /// errors, see `conn`). Has no detail to redact when made by [`Problem::for_status`].
    pub(crate) fn json_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl IntoResponse for Problem {
    fn into_response(mut self) -> Response {
        if let Some(detail) = &self.detail
            && let Cow::Owned(clean) = redact_credentials(detail)
        {
            self.detail = Some(clean);
        }
        if let Some(field) = &self.field
            && let Cow::Owned(clean) = redact_credentials(field)
        {
            self.field = Some(clean);
        }
        let status = self.status();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"bulkhead\""),
            );
        }
        if let Some(after) = self.retry_after {
            // Whole seconds, rounded up: retrying early only earns another 429.
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

/// Rewrites an error response that is not problem JSON yet into problem JSON of the same
/// status, keeping its headers (`Allow` on a 405). Installed outermost by the router.
pub(crate) async fn problemize(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if is_problem {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let fresh = Problem::for_status(status).into_response();
    let (fresh_parts, body) = fresh.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in &fresh_parts.headers {
        parts.headers.insert(name.clone(), value.clone());
    }
    Response::from_parts(parts, Body::new(body))
}

/// A problem for `err` that names the request field `field`: an engine parse error names its
/// own field (`tags`, `ttl`), the request's name for it is what the client can fix.
pub(crate) fn field_as(err: Error, field: &str) -> Problem {
    match err {
        Error::InvalidInput { reason, .. } => {
            Problem::invalid(field, format!("invalid {field}: {reason}"))
        }
        other => Problem::from(other),
    }
}

#[cfg(test)]
mod tests;
