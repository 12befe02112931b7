//! The dashboard's session: `POST`, `GET` and `DELETE /api/v1/dashboard/session`, and the
//! session cookie as an organization credential.
//!
//! Signing in takes an org key (`{"org_key"}`) or client credentials (`{"client_id",
//! "client_secret"}`: the organization id and one of its org keys, checked as
//! `POST /v1/applications/token` checks them) once, and answers a session: a cookie
//! `bulkhead_session` (256 random bits, base64url; `HttpOnly; SameSite=Strict; Path=/`, and
//! `Secure` when [`ServerConfig::public_url`](crate::ServerConfig::public_url) is `https://`)
//! and, in the body, a CSRF token the page keeps in memory only (a reload asks
//! `GET /api/v1/dashboard/session` for it again). The key itself is never kept by the browser.
//!
//! Every route that takes an org key or an access token also takes the cookie, when the
//! request has no `Authorization` header (an `Authorization` header always wins, so a script
//! with its own key never rides on a browser's session). A request with the cookie and an
//! unsafe method (anything but `GET`, `HEAD`, `OPTIONS`) must carry `X-CSRF-Token` equal to
//! the session's token, compared in constant time, or it is a 403 `csrf`. Routes that take
//! only a scoped token never read the cookie.
//!
//! Sessions live in this process's memory, by the SHA-256 digest of the cookie (like access
//! tokens, see [`crate::access`]): a restart signs everyone out. A session ends after
//! [`ServerConfig::session_idle_timeout`](crate::ServerConfig::session_idle_timeout) without a
//! request (sliding), when its org key expires, when the key is revoked (every engine call
//! through the session's scope checks its key), and on sign-out. Neither the key, the cookie
//! nor the CSRF token is ever logged or echoed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulkhead::{OrgId, OrgScope};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::extract::Json;
use crate::openapi::{BadRequest, Forbidden, Unauthorized, Unavailable, UnsupportedMediaType};
use crate::problem::Problem;
use crate::{AppState, blocking};

/// The session cookie's name.
pub(crate) const COOKIE: &str = "bulkhead_session";

/// The header an unsafe request with the cookie carries the CSRF token in.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// At most this many live sessions per organization; a new one past it ends the
/// organization's oldest, so no organization can fill the server's memory.
const MAX_LIVE_PER_ORG: usize = 256;

/// The live sessions of this process.
pub(crate) struct Sessions {
    idle: Duration,
    live: Mutex<Live>,
    rng: SystemRandom,
}

#[derive(Default)]
struct Live {
    /// By the SHA-256 digest of the cookie's value.
    sessions: HashMap<[u8; 32], Session>,
    /// Each organization's sessions, oldest first.
    by_org: HashMap<OrgId, VecDeque<[u8; 32]>>,
}

struct Session {
    org: OrgScope,
    csrf: String,
    last_seen: Instant,
    /// When the org key it was opened with expires, if it does.
    key_expires: Option<Instant>,
}

impl Session {
    fn alive(&self, idle: Duration, now: Instant) -> bool {
        now.duration_since(self.last_seen) < idle && self.key_expires.is_none_or(|at| now < at)
    }
}

fn digest(value: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, value.as_bytes()).as_ref());
    out
}

/// Whether `a` and `b` are equal, in time that depends on their lengths only.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Sessions {
    pub(crate) fn new(idle: Duration) -> Self {
        Self {
            idle,
            live: Mutex::new(Live::default()),
            rng: SystemRandom::new(),
        }
    }

    fn random(&self) -> Result<String, Problem> {
        let mut bytes = [0u8; 32];
        self.rng.fill(&mut bytes).map_err(|_| Problem::internal())?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Opens a session for `org`; answers the cookie's value and the CSRF token.
    fn open(&self, org: OrgScope, key_left: Option<Duration>) -> Result<(String, String), Problem> {
        let cookie = self.random()?;
        let csrf = self.random()?;
        let key = digest(&cookie);
        let now = Instant::now();
        let org_id = org.org_id();
        let mut guard = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let live = &mut *guard;
        let mine = live.by_org.entry(org_id).or_default();
        // Ended and surplus sessions of the organization go first, oldest first.
        while let Some(oldest) = mine.front().copied() {
            let ended = live
                .sessions
                .get(&oldest)
                .is_none_or(|s| !s.alive(self.idle, now));
            if !ended && mine.len() < MAX_LIVE_PER_ORG {
                break;
            }
            mine.pop_front();
            live.sessions.remove(&oldest);
        }
        mine.push_back(key);
        live.sessions.insert(
            key,
            Session {
                org,
                csrf: csrf.clone(),
                last_seen: now,
                key_expires: key_left.map(|left| now + left),
            },
        );
        Ok((cookie, csrf))
    }

    /// The scope and CSRF token of the session `cookie`, touching it (idle expiry slides),
    /// or a 401 (unknown, ended).
    fn touch(&self, cookie: &str) -> Result<(OrgScope, String), Problem> {
        let key = digest(cookie);
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        match live.sessions.get_mut(&key) {
            Some(session) if session.alive(self.idle, now) => {
                session.last_seen = now;
                Ok((session.org.clone(), session.csrf.clone()))
            }
            Some(_) => {
                live.sessions.remove(&key);
                Err(ended())
            }
            None => Err(ended()),
        }
    }

    /// Ends the session `cookie`, if it is live.
    fn end(&self, cookie: &str) {
        let key = digest(cookie);
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(session) = live.sessions.remove(&key)
            && let Some(mine) = live.by_org.get_mut(&session.org.org_id())
        {
            mine.retain(|k| *k != key);
        }
    }
}

fn ended() -> Problem {
    Problem::unauthorized("the dashboard session ended or is unknown; sign in again")
}

fn csrf_refused() -> Problem {
    Problem::new(StatusCode::FORBIDDEN, "csrf", "missing or wrong CSRF token").detail(
        "a request with the session cookie that changes something must carry the session's \
         `X-CSRF-Token` header",
    )
}

/// The value of the session cookie in `headers`, if any.
fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Whether the request would be authenticated by its session cookie: it has one and no
/// `Authorization` header.
pub(crate) fn applies(parts: &Parts) -> bool {
    !parts.headers.contains_key(header::AUTHORIZATION) && cookie_of(&parts.headers).is_some()
}

/// [`session_org`] for an extractor.
pub(crate) fn org_of(parts: &Parts, state: &AppState) -> Result<Option<OrgScope>, Problem> {
    session_org(&parts.method, &parts.headers, state)
}

/// The organization of the request's session, when it [`applies`]: `Ok(None)` when the request
/// has an `Authorization` header or no session cookie (the caller reads the bearer
/// credential), a 401 for an unknown or ended session, a 403 for an unsafe method without
/// the session's CSRF token.
fn session_org(
    method: &Method,
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<OrgScope>, Problem> {
    if headers.contains_key(header::AUTHORIZATION) {
        return Ok(None);
    }
    let Some(cookie) = cookie_of(headers) else {
        return Ok(None);
    };
    let (org, csrf) = state.sessions.touch(&cookie)?;
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !same(sent, &csrf) {
            return Err(csrf_refused());
        }
    }
    Ok(Some(org))
}

/// The body of `POST /api/v1/dashboard/session`: an org key, or client credentials.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DashboardSignIn)]
pub(crate) struct SignIn {
    /// One of the organization's live org keys (`bh_org_...`); or give the two fields below.
    org_key: Option<String>,
    /// The organization's id (the client id of its client credentials).
    #[schema(format = "uuid")]
    client_id: Option<String>,
    /// One of the organization's live org keys (the client secret).
    client_secret: Option<String>,
}

/// The organization a session is signed in to.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = DashboardOrganization)]
pub(crate) struct SessionOrg {
    /// Its id.
    #[schema(format = "uuid")]
    id: String,
    /// Its display name.
    name: String,
}

/// A dashboard session, as the page sees it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = DashboardSession)]
pub(crate) struct SessionBody {
    /// Send it as `X-CSRF-Token` with every request that changes something; keep it in
    /// memory only.
    csrf_token: String,
    /// The organization signed in to.
    organization: SessionOrg,
    /// Seconds without a request after which the session ends.
    idle_timeout_seconds: u64,
}

fn session_body(state: &AppState, org: &OrgScope, csrf: String) -> SessionBody {
    let organization = org.organization();
    SessionBody {
        csrf_token: csrf,
        organization: SessionOrg {
            id: organization.id.to_string(),
            name: organization.name.to_string(),
        },
        idle_timeout_seconds: state.config.session_idle_timeout.as_secs(),
    }
}

/// The `Set-Cookie` value of a session (`value` empty and `Max-Age=0` ends it).
fn set_cookie(state: &AppState, value: &str, clear: bool) -> Result<HeaderValue, Problem> {
    let secure = state
        .config
        .public_url
        .as_deref()
        .is_some_and(|url| url.to_ascii_lowercase().starts_with("https://"));
    let mut cookie = format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/");
    if secure {
        cookie.push_str("; Secure");
    }
    if clear {
        cookie.push_str("; Max-Age=0");
    }
    HeaderValue::from_str(&cookie).map_err(|_| Problem::internal())
}

fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Sign in to the dashboard
///
/// Opens a dashboard session with an org key (`org_key`) or client credentials
/// (`client_id` = the organization id, `client_secret` = one of its org keys). The answer
/// sets the `HttpOnly`, `SameSite=Strict` session cookie and carries the CSRF token. Wrong
/// credentials of any kind get one 401 and no cookie.
#[utoipa::path(
    post,
    path = "/api/v1/dashboard/session",
    tag = "dashboard",
    operation_id = "dashboard_sign_in",
    request_body = SignIn,
    responses(
        (status = 201, description = "Signed in; `Set-Cookie` carries the session.", body = SessionBody),
        BadRequest, Unauthorized, UnsupportedMediaType, Unavailable,
    ),
    security(("client_credentials" = []), ("org_key" = [])),
)]
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    meter: crate::limits::RateMeter,
    Json(body): Json<SignIn>,
) -> Result<Response, Problem> {
    let refused = || Problem::unauthorized("invalid credentials");
    let (secret, client_id) = match body {
        SignIn {
            org_key: Some(key),
            client_id: None,
            client_secret: None,
        } => (key, None),
        SignIn {
            org_key: None,
            client_id: Some(id),
            client_secret: Some(secret),
        } => (
            secret,
            Some(id.trim().parse::<OrgId>().map_err(|_| refused())?),
        ),
        _ => {
            return Err(Problem::invalid(
                "org_key",
                "give either `org_key`, or both `client_id` and `client_secret`",
            ));
        }
    };
    let engine = state.engine.clone();
    let (org, key_left) = blocking(move || {
        let org = engine.authenticate_org(&secret)?;
        let left = crate::access::key_lifetime(&org, &secret)?;
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
    if client_id.is_some_and(|id| id != org.org_id()) {
        return Err(refused());
    }
    meter.charge(org.org_id())?;
    let (cookie, csrf) = state.sessions.open(org.clone(), key_left)?;
    let mut response = (
        StatusCode::CREATED,
        axum::Json(session_body(&state, &org, csrf)),
    )
        .into_response();
    no_store(&mut response);
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&state, &cookie, false)?);
    Ok(response)
}

/// The current dashboard session
///
/// The session of the request's cookie, with its CSRF token (a reloaded page gets it back
/// here); a 401 when there is none, it ended, or its org key was revoked or expired.
#[utoipa::path(
    get,
    path = "/api/v1/dashboard/session",
    tag = "dashboard",
    operation_id = "dashboard_session",
    responses(
        (status = 200, description = "The session.", body = SessionBody),
        Unauthorized, Unavailable,
    ),
    security(("dashboard_session" = [])),
)]
pub(crate) async fn current(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let cookie = cookie_of(&headers).ok_or_else(ended)?;
    let (org, csrf) = state.sessions.touch(&cookie)?;
    // The key may have been revoked since: every engine call through the scope checks it.
    let check = org.clone();
    if let Err(problem) = blocking(move || check.list_keys().map(drop)).await {
        if problem.status() == StatusCode::UNAUTHORIZED {
            state.sessions.end(&cookie);
            return Err(ended());
        }
        return Err(problem);
    }
    let mut response = axum::Json(session_body(&state, &org, csrf)).into_response();
    no_store(&mut response);
    Ok(response)
}

/// Sign out of the dashboard
///
/// Ends the request's session on the server and clears its cookie. Takes the session's
/// `X-CSRF-Token`.
#[utoipa::path(
    delete,
    path = "/api/v1/dashboard/session",
    tag = "dashboard",
    operation_id = "dashboard_sign_out",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token.")),
    responses(
        (status = 204, description = "Signed out; `Set-Cookie` clears the cookie."),
        Unauthorized, Forbidden, Unavailable,
    ),
    security(("dashboard_session" = [])),
)]
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let cookie = cookie_of(&headers).ok_or_else(ended)?;
    // An `Authorization` header does not sign a session out: only the session itself, with
    // its CSRF token.
    if headers.contains_key(header::AUTHORIZATION) {
        return Err(Problem::unauthorized(
            "sign out with the session cookie alone, without an Authorization header",
        ));
    }
    session_org(&method, &headers, &state)?;
    state.sessions.end(&cookie);
    let mut response = StatusCode::NO_CONTENT.into_response();
    no_store(&mut response);
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&state, "", true)?);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; bulkhead_session=abc ; b=2"),
        );
        assert_eq!(cookie_of(&headers).as_deref(), Some("abc"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("bulkhead_session="),
        );
        assert_eq!(cookie_of(&headers), None);
    }

    #[test]
    fn csrf_comparison_needs_the_same_bytes() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert!(!same("", "a"));
    }
}
