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

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulkhead::{Clock, OrgId, OrgScope, SystemClock};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::extract::JsonOrForm;
use crate::openapi::{BadRequest, PayloadTooLarge, Unavailable, UnsupportedMediaType};
use crate::problem::Problem;
use crate::{AppState, blocking};

/// How every access token begins: it tells one apart from an org key (`bh_org_`) and a
/// scoped token (a JWT) without a lookup.
pub(crate) const ACCESS_TOKEN_PREFIX: &str = "bh_at_";

/// At most this many live access tokens per organization; a new one past it retires the
/// organization's oldest, so no organization can fill the server's memory.
pub(crate) const MAX_LIVE_PER_ORG: usize = 1_000;

/// The live access tokens of this process.
pub(crate) struct AccessTokens {
    ttl: Duration,
    live: Mutex<Live>,
    rng: SystemRandom,
}

#[derive(Default)]
struct Live {
    /// By the SHA-256 digest of the token.
    tokens: HashMap<[u8; 32], Held>,
    /// Each organization's tokens, oldest first.
    by_org: HashMap<OrgId, VecDeque<[u8; 32]>>,
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
            live: Mutex::new(Live::default()),
            rng: SystemRandom::new(),
        }
    }

    /// A new access token for `org`, living `lifetime` (at most the configured lifetime).
    fn issue(&self, org: OrgScope, lifetime: Duration) -> Result<(String, Duration), Problem> {
        let lifetime = lifetime.min(self.ttl);
        let mut bytes = [0u8; 32];
        self.rng.fill(&mut bytes).map_err(|_| Problem::internal())?;
        let token = format!("{ACCESS_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let key = digest(&token);
        let now = Instant::now();
        let org_id = org.org_id();
        let mut guard = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let live = &mut *guard;
        let mine = live.by_org.entry(org_id).or_default();
        // Expired and surplus tokens of the organization go first, oldest first.
        while let Some(oldest) = mine.front().copied() {
            let expired = live.tokens.get(&oldest).is_none_or(|h| h.expires <= now);
            if !expired && mine.len() < MAX_LIVE_PER_ORG {
                break;
            }
            mine.pop_front();
            live.tokens.remove(&oldest);
        }
        mine.push_back(key);
        live.tokens.insert(
            key,
            Held {
                org,
                expires: now + lifetime,
            },
        );
        Ok((token, lifetime))
    }

    /// The organization scope an access token stands for, or a 401.
    pub(crate) fn resolve(&self, token: &str) -> Result<OrgScope, Problem> {
        let key = digest(token);
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        match live.tokens.get(&key) {
            Some(held) if held.expires > Instant::now() => Ok(held.org.clone()),
            Some(_) => Err(Problem::unauthorized(
                "the access token expired; ask POST /v1/applications/token for a new one",
            )),
            None => Err(Problem::unauthorized(
                "unknown or expired access token; ask POST /v1/applications/token for a new one",
            )),
        }
    }
}

/// How long the org key `secret` of `org` still lives, if it expires at all.
pub(crate) fn key_lifetime(org: &OrgScope, secret: &str) -> bulkhead::Result<Option<Duration>> {
    let now = SystemClock.now().unix_millis();
    let expiry = org
        .list_keys()?
        .into_iter()
        .filter(|k| k.revoked_at.is_none() && secret.starts_with(&k.prefix))
        .filter_map(|k| k.expires_at)
        .min();
    Ok(expiry.map(|at| {
        Duration::from_millis(u64::try_from(at.unix_millis().saturating_sub(now)).unwrap_or(0))
    }))
}

/// The body of a token request, JSON or form: OAuth client credentials.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    /// The organization's id.
    #[schema(format = "uuid")]
    client_id: String,
    /// One of the organization's live org keys (`bh_org_...`).
    client_secret: String,
    /// `client_credentials` when given; Airbyte's own demo spells it `grant-type`.
    #[serde(alias = "grant-type")]
    grant_type: Option<String>,
}

/// An access token: a bearer credential for the organization's routes.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TokenResponse {
    /// `bh_at_` and 43 base64url characters; opaque.
    access_token: String,
    /// Always `Bearer`.
    #[schema(value_type = String, example = "Bearer")]
    token_type: &'static str,
    /// Seconds it lives: the server's access-token lifetime, or less when the org key
    /// expires first.
    expires_in: u64,
}

/// Get an access token by client credentials
///
/// An access token for the organization whose id is `client_id` and one of whose org keys
/// is `client_secret`, as JSON or a form, `grant_type` (or `grant-type`) `client_credentials`
/// or absent. Wrong credentials of any kind get one 401. The token lives in this process's
/// memory: after a restart, a client gets a 401 and asks again.
#[utoipa::path(
    post,
    path = "/v1/applications/token",
    tag = "credentials",
    operation_id = "create_access_token",
    request_body(
        description = "Client credentials, as JSON or as a form.",
        content(
            (TokenRequest = "application/json"),
            (TokenRequest = "application/x-www-form-urlencoded"),
        ),
    ),
    responses(
        (status = 200, description = "The access token; never cached (`Cache-Control: no-store`).", body = TokenResponse),
        BadRequest, crate::openapi::Unauthorized, PayloadTooLarge, UnsupportedMediaType, Unavailable,
    ),
)]
pub(crate) async fn token(
    State(state): State<AppState>,
    meter: crate::limits::RateMeter,
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
    let (org, key_left) = blocking(move || {
        let org = engine.authenticate_org(&secret)?;
        let left = key_lifetime(&org, &secret)?;
        Ok((org, left))
    })
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
    meter.charge(client_id)?;
    // Never longer than the org key it stands for.
    let (access_token, ttl) = state.access.issue(org, key_left.unwrap_or(Duration::MAX))?;
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

/// Declares an alias path of `POST /v1/applications/token`: the same handler, its own
/// operation in the document.
macro_rules! token_alias {
    ($(#[$doc:meta])* $name:ident = $path:literal, $operation_id:literal;) => {
        $(#[$doc])*
        #[utoipa::path(
            post,
            path = $path,
            tag = "credentials",
            operation_id = $operation_id,
            request_body(
                description = "Client credentials, as JSON or as a form.",
                content(
                    (TokenRequest = "application/json"),
                    (TokenRequest = "application/x-www-form-urlencoded"),
                ),
            ),
            responses(
                (status = 200, description = "The access token.", body = TokenResponse),
                BadRequest, crate::openapi::Unauthorized, PayloadTooLarge, UnsupportedMediaType, Unavailable,
            ),
        )]
        pub(crate) async fn $name(
            state: State<AppState>,
            meter: crate::limits::RateMeter,
            body: JsonOrForm<TokenRequest>,
        ) -> Result<Response, Problem> {
            token(state, meter, body).await
        }
    };
}

token_alias! {
    /// Get an access token (self-managed Airbyte's path)
    ///
    /// The same as `POST /v1/applications/token`.
    token_public_v1 = "/api/public/v1/applications/token", "create_access_token_public_v1";
}

token_alias! {
    /// Get an access token (Airbyte's account path)
    ///
    /// The same as `POST /v1/applications/token`.
    token_account = "/api/v1/account/applications/token", "create_access_token_account";
}

token_alias! {
    /// Get an access token (the SDK's default token URL)
    ///
    /// The same as `POST /v1/applications/token`: the `airbyte-api` SDK's default
    /// `token_url` drops the base path.
    token_root = "/applications/token", "create_access_token_root";
}
