//! Operator access tokens: `POST /v1/applications/token` by client credentials.
//!
//! The client id of an organization is its organization id; a client secret is any live org
//! key of that organization. The answer is an opaque, random access token
//! (`bh_at_` and 43 base64url characters) that stands for that org key for
//! [`ServerConfig::access_token_ttl`](crate::ServerConfig::access_token_ttl) (15 minutes by
//! default): it is good wherever an org key is, is refused wherever a scoped token is
//! expected, and dies early with its org key (revoked or expired).
//!
//! Access tokens live in this process's memory only, as SHA-256 digests: a restart, or
//! another process behind the same load balancer, does not know them, and a client gets a
//! 401 and asks for a new one (the `airbyte-api` SDK does). Neither the secret nor the token
//! is ever logged or echoed.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulkhead::{OrgId, OrgScope};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::extract::JsonOrForm;
use crate::problem::Problem;
use crate::{AppState, blocking};

/// How every access token begins: it tells one apart from an org key (`bh_org_`) and a
/// scoped token (a JWT) without a lookup.
pub(crate) const ACCESS_TOKEN_PREFIX: &str = "bh_at_";

/// At most this many live access tokens are held; past it a token request is a 503.
const MAX_LIVE: usize = 100_000;

/// The live access tokens of this process.
pub(crate) struct AccessTokens {
    ttl: Duration,
    live: Mutex<HashMap<[u8; 32], Held>>,
    rng: SystemRandom,
}

struct Held {
    org: OrgScope,
    expires: Instant,
}

fn digest(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref());
    out
}

impl AccessTokens {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            live: Mutex::new(HashMap::new()),
            rng: SystemRandom::new(),
        }
    }

    /// A new access token for `org`, and its lifetime.
    fn issue(&self, org: OrgScope) -> Result<(String, Duration), Problem> {
        let mut bytes = [0u8; 32];
        self.rng.fill(&mut bytes).map_err(|_| Problem::internal())?;
        let token = format!("{ACCESS_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        if live.len() >= MAX_LIVE {
            live.retain(|_, held| held.expires > now);
        }
        if live.len() >= MAX_LIVE {
            return Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "service unavailable",
            )
            .detail("too many live access tokens; retry later"));
        }
        live.insert(
            digest(&token),
            Held {
                org,
                expires: now + self.ttl,
            },
        );
        Ok((token, self.ttl))
    }

    /// The organization scope an access token stands for, or a 401.
    pub(crate) fn resolve(&self, token: &str) -> Result<OrgScope, Problem> {
        let key = digest(token);
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        match live.get(&key) {
            Some(held) if held.expires > Instant::now() => Ok(held.org.clone()),
            Some(_) => {
                live.remove(&key);
                Err(Problem::unauthorized(
                    "the access token expired; ask POST /v1/applications/token for a new one",
                ))
            }
            None => Err(Problem::unauthorized(
                "unknown or expired access token; ask POST /v1/applications/token for a new one",
            )),
        }
    }
}

/// The body of a token request, JSON or form: OAuth client credentials.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    client_id: String,
    client_secret: String,
    /// `client_credentials` when given; Airbyte's own demo spells it `grant-type`.
    #[serde(alias = "grant-type")]
    grant_type: Option<String>,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

/// `POST /v1/applications/token` (and its aliases): an access token for the organization
/// whose id is `client_id` and one of whose org keys is `client_secret`. Wrong credentials of
/// any kind get one 401.
pub(crate) async fn token(
    State(state): State<AppState>,
    JsonOrForm(body): JsonOrForm<TokenRequest>,
) -> Result<Response, Problem> {
    if let Some(grant) = &body.grant_type
        && grant != "client_credentials"
    {
        return Err(Problem::invalid(
            "grant_type",
            "invalid grant_type: only `client_credentials` is supported",
        ));
    }
    let refused = || Problem::unauthorized("invalid client credentials");
    let client_id: OrgId = body.client_id.trim().parse().map_err(|_| refused())?;
    let engine = state.engine.clone();
    let secret = body.client_secret;
    let org = blocking(move || engine.authenticate_org(&secret))
        .await
        .map_err(|p| {
            if p.status() == StatusCode::UNAUTHORIZED {
                refused()
            } else {
                p
            }
        })?;
    if org.org_id() != client_id {
        return Err(refused());
    }
    let (access_token, ttl) = state.access.issue(org)?;
    let mut response = axum::Json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl.as_secs(),
    })
    .into_response();
    // RFC 6749, 5.1: a token answer is never cached.
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}
