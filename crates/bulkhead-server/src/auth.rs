//! Credentials over HTTP: `Authorization: Bearer <credential>`.
//!
//! Organization routes take an org access key ([`OrgAuth`], `Engine::authenticate_org`) or an
//! access token made from one by `POST /v1/applications/token` (see [`crate::access`]);
//! workspace routes take a scoped token ([`ScopedAuth`], `Engine::authenticate`). A credential
//! of the other kind is not a valid credential for the route: 401, like a missing, malformed,
//! revoked or expired one, with `WWW-Authenticate: Bearer` and a detail that says which kind the
//! route wants. The credential itself never appears in a body or a log line.
//!
//! A scoped token sent from a browser page of another site is refused (403) unless it is a
//! widget token bound to that page's origin (see [`crate::widget`]).
//! Once authenticated, a request is charged to its organization's rate limit
//! ([`crate::limits`]): past it, a 429.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use bulkhead::{Error, OrgScope, TokenRejection, WorkspaceScope};

use crate::access::ACCESS_TOKEN_PREFIX;
use crate::problem::Problem;
use crate::{AppState, blocking};

/// The organization of the org key in the request.
pub(crate) struct OrgAuth(pub(crate) OrgScope);

/// The workspace of the scoped token in the request.
pub(crate) struct ScopedAuth(pub(crate) WorkspaceScope);

/// The bearer credential of the request, or a 401 saying what is wrong with the header.
fn bearer(parts: &Parts) -> Result<String, Problem> {
    // Two credentials are ambiguous: which one a proxy or a client library meant is a guess.
    if parts
        .headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err(Problem::unauthorized(
            "send one Authorization header, not several",
        ));
    }
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Problem::unauthorized("send `Authorization: Bearer <credential>`"))?;
    let value = value
        .to_str()
        .map_err(|_| Problem::unauthorized("the Authorization header is not text"))?;
    let (scheme, credential) = value.split_once(' ').ok_or_else(|| {
        Problem::unauthorized("the Authorization header must be `Bearer <credential>`")
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Problem::unauthorized(
            "the Authorization header must use the `Bearer` scheme",
        ));
    }
    let credential = credential.trim();
    if credential.is_empty() {
        return Err(Problem::unauthorized("the bearer credential is empty"));
    }
    Ok(credential.to_owned())
}

impl FromRequestParts<AppState> for OrgAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let key = bearer(parts)?;
        let org = if key.starts_with(ACCESS_TOKEN_PREFIX) {
            state.access.resolve(&key)?
        } else {
            let engine = state.engine.clone();
            blocking(move || engine.authenticate_org(&key)).await?
        };
        crate::limits::charge(parts, org.org_id())?;
        Ok(OrgAuth(org))
    }
}

impl FromRequestParts<AppState> for ScopedAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let token = bearer(parts)?;
        if token.starts_with(ACCESS_TOKEN_PREFIX) {
            return Err(Problem::unauthorized(
                "an access token is not a scoped token: this route takes a scoped token \
                 from POST /api/v1/embedded/scoped-token",
            ));
        }
        let engine = state.engine.clone();
        let ws = blocking(move || {
            engine.authenticate(&token).map_err(|err| match err {
                // The engine refuses an org key here as "permission denied" (the caller may
                // hold the organization); over HTTP the credential is simply not one this
                // route takes, and nothing was authenticated: 401, like a token on an
                // organization route.
                Error::PermissionDenied { reason, .. } => {
                    Error::invalid_token(TokenRejection::Malformed, reason)
                }
                // The token's own workspace is gone (deleted): the token grants nothing any
                // more, which a client should read as "get a new credential", not as a
                // missing object.
                Error::NotFound { .. } => Error::invalid_token(
                    TokenRejection::Revoked,
                    "the token's workspace was deleted",
                ),
                other => other,
            })
        })
        .await?;
        // A browser page of another site may use only a widget token bound to it.
        crate::widget::admit_origin(parts, &state.config, &ws)?;
        crate::limits::charge(parts, ws.org_id())?;
        Ok(ScopedAuth(ws))
    }
}

/// Whoever a route that takes either kind of credential is talking to.
pub(crate) enum Caller {
    /// An org key or an access token: every workspace of the organization.
    Org(Box<OrgScope>),
    /// A scoped token: its own workspace only.
    Workspace(Box<WorkspaceScope>),
}

/// An org key, an access token or a scoped token, told apart by their form (an org key
/// begins `bh_org_`, an access token `bh_at_`; anything else is taken for a scoped token).
/// Each is checked exactly as on a route that takes only its kind.
pub(crate) struct AnyAuth(pub(crate) Caller);

impl FromRequestParts<AppState> for AnyAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let credential = bearer(parts)?;
        if credential.starts_with(ACCESS_TOKEN_PREFIX)
            || credential.starts_with(bulkhead::ORG_KEY_PREFIX)
        {
            let OrgAuth(org) = OrgAuth::from_request_parts(parts, state).await?;
            return Ok(Self(Caller::Org(Box::new(org))));
        }
        let ScopedAuth(ws) = ScopedAuth::from_request_parts(parts, state).await?;
        Ok(Self(Caller::Workspace(Box::new(ws))))
    }
}
