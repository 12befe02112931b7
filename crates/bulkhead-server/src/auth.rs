//! Credentials over HTTP: `Authorization: Bearer <credential>`.
//!
//! Organization routes take an org access key ([`OrgAuth`], `Engine::authenticate_org`) or an
//! access token made from one by `POST /v1/applications/token` (see [`crate::access`]);
//! workspace routes take a scoped token ([`ScopedAuth`], `Engine::authenticate`). A credential
//! of the other kind is not a valid credential for the route: 401, like a missing, malformed,
//! revoked or expired one, with `WWW-Authenticate: Bearer` and a detail that says which kind the
//! route wants. The credential itself never appears in a body or a log line.
//!
//! **Worker keys** (`bh_wkr_`) are taken by the worker protocol's three routes only
//! ([`WorkerAuth`], `Engine::authenticate_worker`; those routes also take an org key, an
//! access token or the dashboard session, which hold the organization's whole power anyway).
//! Every other route answers a worker key with a 403 `permission-denied` problem
//! ([`refuse_worker_keys`], a layer on every route but those three, even the ones that need no
//! credential): the key is genuine but not for that route, and a 403 tells a client that
//! asking for a new credential of the same kind will not help. A worker key given in a body
//! (client credentials, the dashboard's sign-in) is refused by the engine, with the same 403.
//!
//! The dashboard's session cookie (see [`crate::session`]) is an organization credential too,
//! read only when the request has no `Authorization` header; scoped-token routes never read it.
//!
//! A scoped token sent from a browser page of another site is refused (403) unless it is a
//! widget token bound to that page's origin (see [`crate::widget`]).
//!
//! A scoped token's extractor only reads the header: the token is authenticated, and the
//! origin and rate checks made, by [`ScopedAuth::run`] (or [`AnyAuth::run`]) on the engine
//! thread of the call it is for, just before that call, in the order above. So a request
//! whose body or path is malformed gets its 400 before a token that has been revoked gets
//! its 401; neither reaches the engine's data.
//! Once authenticated, a request is charged to its organization's rate limit
//! ([`crate::limits`]): past it, a 429.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bulkhead::{Error, OrgScope, TokenRejection, WORKER_KEY_PREFIX, Worker, WorkspaceScope};

use crate::access::ACCESS_TOKEN_PREFIX;
use crate::limits::RateMeter;
use crate::problem::Problem;
use crate::widget::OriginGate;
use crate::{AppState, blocking, run_blocking};

/// The organization of the org key in the request.
pub(crate) struct OrgAuth(pub(crate) OrgScope);

/// The scoped token in the request, authenticated by [`ScopedAuth::run`] together with the
/// engine call it is for.
pub(crate) struct ScopedAuth(Pending);

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
        // The dashboard's session cookie, when there is no Authorization header.
        if let Some(org) = crate::session::org_of(parts, state)? {
            crate::limits::charge(parts, org.org_id())?;
            return Ok(OrgAuth(org));
        }
        let key = bearer(parts)?;
        let org = if key.starts_with(ACCESS_TOKEN_PREFIX) {
            state.access.resolve(&key)?
        } else if let Some(org) = state.org_keys.get(&key) {
            org
        } else {
            let engine = state.engine.clone();
            let (org, key) =
                blocking(move || engine.authenticate_org(&key).map(|org| (org, key))).await?;
            state.org_keys.put(&key, &org);
            org
        };
        crate::limits::charge(parts, org.org_id())?;
        Ok(OrgAuth(org))
    }
}

/// How long an org key, once authenticated, is taken for its organization's scope without
/// asking the engine again.
pub(crate) const ORG_KEY_CACHE_TTL: Duration = Duration::from_secs(30);
/// The most org keys remembered; past it the cache starts over.
const ORG_KEY_CACHE_MAX: usize = 1_024;

/// Org keys this process authenticated lately, by the SHA-256 digest of the key (never the
/// key itself), with the scope each one gave.
///
/// `Engine::authenticate_org` reads the key and its organization (two reads) on every call;
/// the scoped-token route runs it on every request. A remembered scope is the one an access
/// token holds (see [`crate::access`]), for at most [`ORG_KEY_CACHE_TTL`]: every engine call
/// through it still checks the key first, so a key revoked through this engine or expired
/// is refused at once, and one revoked by another process within that time (the engine's own
/// recheck of a scope's credential comes after a minute). A key that failed is not
/// remembered: every refusal goes to the engine, and is audited there.
#[derive(Default)]
pub(crate) struct OrgKeys {
    scopes: Mutex<HashMap<[u8; 32], (OrgScope, Instant)>>,
}

impl OrgKeys {
    fn digest(key: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, key.as_bytes()).as_ref());
        out
    }

    /// The scope `key` gave less than [`ORG_KEY_CACHE_TTL`] ago.
    fn get(&self, key: &str) -> Option<OrgScope> {
        let digest = Self::digest(key);
        let scopes = self.scopes.lock().unwrap_or_else(PoisonError::into_inner);
        scopes
            .get(&digest)
            .filter(|(_, at)| at.elapsed() < ORG_KEY_CACHE_TTL)
            .map(|(org, _)| org.clone())
    }

    /// Remembers the scope `key` just gave.
    fn put(&self, key: &str, org: &OrgScope) {
        let digest = Self::digest(key);
        let mut scopes = self.scopes.lock().unwrap_or_else(PoisonError::into_inner);
        if scopes.len() >= ORG_KEY_CACHE_MAX {
            scopes.retain(|_, (_, at)| at.elapsed() < ORG_KEY_CACHE_TTL);
            if scopes.len() >= ORG_KEY_CACHE_MAX {
                scopes.clear();
            }
        }
        scopes.insert(digest, (org.clone(), Instant::now()));
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
        Ok(ScopedAuth(Pending {
            engine: state.engine.clone(),
            token,
            origin: OriginGate::of(parts, &state.config),
            meter: RateMeter::of(parts),
        }))
    }
}

/// A scoped token taken from the request but not yet authenticated, with what its checks
/// need from the request. [`Pending::admit`] runs them all, in this order, on the engine
/// thread of the call the token is for, so a request makes one trip off the async workers,
/// not two: `Engine::authenticate` (every refusal of the token: signature, expiry,
/// revocation, a deleted or inactive workspace), the widget origin check, then the charge to
/// the organization's rate limit, and only then the call.
pub(crate) struct Pending {
    engine: bulkhead::Engine,
    token: String,
    origin: OriginGate,
    meter: RateMeter,
}

impl Pending {
    /// The workspace of the token, admitted; blocks on storage.
    fn admit(self) -> Result<WorkspaceScope, Problem> {
        let ws = self.engine.authenticate(&self.token).map_err(|err| {
            Problem::from(match err {
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
        })?;
        // A browser page of another site may use only a widget token bound to it.
        self.origin.admit(&ws)?;
        self.meter.charge(ws.org_id())?;
        Ok(ws)
    }
}

impl ScopedAuth {
    /// Authenticates the token and runs `call` with its workspace, together, off the async
    /// workers (one trip to an engine thread, see [`Pending`]): the only way a handler
    /// reaches the scope.
    pub(crate) async fn run<T, F>(self, call: F) -> Result<T, Problem>
    where
        T: Send + 'static,
        F: FnOnce(WorkspaceScope) -> bulkhead::Result<T> + Send + 'static,
    {
        let ScopedAuth(pending) = self;
        run_blocking(move || call(pending.admit()?).map_err(Problem::from)).await
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
/// Each is checked exactly as on a route that takes only its kind; a scoped token, like
/// [`ScopedAuth`]'s, by [`AnyAuth::run`], together with the engine call.
pub(crate) struct AnyAuth(Either);

enum Either {
    Org(Box<OrgScope>),
    Workspace(Box<Pending>),
}

impl FromRequestParts<AppState> for AnyAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        // The dashboard's session cookie is an organization credential (see `OrgAuth`).
        if crate::session::applies(parts) {
            let OrgAuth(org) = OrgAuth::from_request_parts(parts, state).await?;
            return Ok(Self(Either::Org(Box::new(org))));
        }
        let credential = bearer(parts)?;
        if credential.starts_with(ACCESS_TOKEN_PREFIX)
            || credential.starts_with(bulkhead::ORG_KEY_PREFIX)
        {
            let OrgAuth(org) = OrgAuth::from_request_parts(parts, state).await?;
            return Ok(Self(Either::Org(Box::new(org))));
        }
        let ScopedAuth(pending) = ScopedAuth::from_request_parts(parts, state).await?;
        Ok(Self(Either::Workspace(Box::new(pending))))
    }
}

impl AnyAuth {
    /// Runs `call` with the caller off the async workers, a scoped token authenticated in
    /// the same trip to an engine thread (see [`ScopedAuth::run`]).
    pub(crate) async fn run<T, F>(self, call: F) -> Result<T, Problem>
    where
        T: Send + 'static,
        F: FnOnce(Caller) -> bulkhead::Result<T> + Send + 'static,
    {
        run_blocking(move || {
            let caller = match self.0 {
                Either::Org(org) => Caller::Org(org),
                Either::Workspace(pending) => Caller::Workspace(Box::new(pending.admit()?)),
            };
            call(caller).map_err(Problem::from)
        })
        .await
    }
}

/// The 403 of a worker key on a route that is not the worker protocol's.
pub(crate) fn worker_key_refused() -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "permission-denied",
        "permission denied",
    )
    .detail(
        "this is a worker key: it may only claim, heartbeat and complete jobs (POST \
         /api/v1/jobs/claim, POST /api/v1/jobs/{jobId}/heartbeat, POST \
         /api/v1/jobs/{jobId}/complete); this route takes an org key, an access token or a \
         scoped token",
    )
}

/// Answers a request whose `Authorization` carries a worker key with
/// [`worker_key_refused`], before its route runs: the layer of every route but the worker
/// protocol's (see the module docs). Any header of the request that holds the worker key
/// prefix counts, whatever its scheme or position, so no route can take a worker key by
/// accident, nor ignore one.
pub(crate) async fn refuse_worker_keys(request: Request, next: Next) -> Response {
    let prefix = WORKER_KEY_PREFIX.as_bytes();
    let carries_worker_key = request
        .headers()
        .get_all(header::AUTHORIZATION)
        .iter()
        .any(|value| value.as_bytes().windows(prefix.len()).any(|w| w == prefix));
    if carries_worker_key {
        return worker_key_refused().into_response();
    }
    next.run(request).await
}

/// The credential of a worker protocol route: a worker key, authenticated together with the
/// call it is for by [`WorkerAuth::run`]; or an organization's credential (an org key, an
/// access token, the dashboard session), read as [`OrgAuth`] reads it.
pub(crate) struct WorkerAuth(WorkerCredential);

enum WorkerCredential {
    Org(Box<OrgScope>),
    Key {
        engine: bulkhead::Engine,
        key: String,
        meter: RateMeter,
    },
}

impl FromRequestParts<AppState> for WorkerAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        if !crate::session::applies(parts) {
            let credential = bearer(parts)?;
            if credential.starts_with(WORKER_KEY_PREFIX) {
                return Ok(Self(WorkerCredential::Key {
                    engine: state.engine.clone(),
                    key: credential,
                    meter: RateMeter::of(parts),
                }));
            }
        }
        let OrgAuth(org) = OrgAuth::from_request_parts(parts, state).await?;
        Ok(Self(WorkerCredential::Org(Box::new(org))))
    }
}

impl WorkerAuth {
    /// Runs `call` with a worker named `name` off the async workers. A worker key is
    /// authenticated in the same trip (every refusal of it: wrong, revoked, expired), then
    /// charged to its organization's rate limit; an organization's credential gives that
    /// organization's worker.
    pub(crate) async fn run<T, F>(self, name: String, call: F) -> Result<T, Problem>
    where
        T: Send + 'static,
        F: FnOnce(Worker) -> bulkhead::Result<T> + Send + 'static,
    {
        run_blocking(move || {
            let worker = match self.0 {
                WorkerCredential::Org(org) => org.worker(&name)?,
                WorkerCredential::Key { engine, key, meter } => {
                    let worker = engine.authenticate_worker(&key, &name)?;
                    if let Some(org_id) = worker.org_id() {
                        meter.charge(org_id)?;
                    }
                    worker
                }
            };
            call(worker).map_err(Problem::from)
        })
        .await
    }
}
