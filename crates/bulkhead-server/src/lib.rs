//! Bulkhead over HTTP: the seed's Embedded API and the start of the Airbyte public API v1 as
//! an [`axum::Router`] a host mounts, and
//! [`serve`] to run it on its own.
//!
//! A host mounts the router next to its own routes (the README shows this example):
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = bulkhead::Engine::open("bulkhead.db", bulkhead::Config::from_env()?)?;
//! let app = axum::Router::new()
//!     .route("/healthz", axum::routing::get(|| async { "ok" }))
//!     .merge(bulkhead_server::router(engine, bulkhead_server::ServerConfig::default()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! bulkhead_server::serve(listener, app, bulkhead_server::shutdown_signal()).await?;
//! # Ok(()) }
//! ```
//!
//! The server is a thin layer: a handler parses the request, calls one engine method off the
//! async workers (on the router's engine threads: engine calls block on storage), and maps
//! the result. Every rule (isolation, tokens, limits, audit) stays in the engine. A scoped
//! token is authenticated in the same trip to an engine thread as the call it is for.
//!
//! Routes so far (the foundation of issue 14):
//!
//! | method, path | credential |
//! | --- | --- |
//! | `POST /api/v1/embedded/scoped-token` | org key |
//! | `POST /api/v1/embedded/widget-token` | org key |
//! | `GET /api/v1/embedded/scoped-token/info` | scoped token |
//! | `GET /api/v1/embedded/source-templates` | scoped token |
//! | `POST, GET /api/v1/embedded/sources` | scoped token |
//! | `GET, PUT, DELETE /api/v1/embedded/sources/{id}` | scoped token |
//! | `GET /api/v1/workspaces` (`name_contains`, `external_id_prefix`, `status`, cursor pages), `GET /api/v1/workspaces/stats`, `GET /api/v1/workspaces/overview` (the same, with the last 7 days' rows and bytes) | org key or access token |
//! | `GET, PATCH, PUT, DELETE /api/v1/workspaces/{id}` | org key or access token |
//! | `GET /api/v1/workspaces/{id}/runs`, `POST /api/v1/workspaces/{id}/revoke-tokens`, `POST /api/v1/workspaces/{id}/merge` (the dashboard's workspace page, see `dashboard`) | org key or access token |
//! | `POST, GET, DELETE /api/v1/dashboard/session` (sign in, the session, sign out; see `session`) | org key or client credentials in the body; then the session cookie |
//! | `GET, POST /api/v1/integrations/templates/sources` (`tags`, `tags_mode`); `GET, PATCH, DELETE .../sources/{id}` | org key or access token |
//! | `POST .../sources/{id}/tags`; `DELETE .../sources/{id}/tags/{tag_name}` | org key or access token |
//! | the same six under `/api/v1/integrations/templates/connections` | org key or access token |
//! | `GET, POST /api/v1/integrations/templates/tags`; `PUT, DELETE .../tags/{name}` | org key or access token |
//! | `GET /api/v1/organization/stats`, `GET .../audit` (`before` or `after`, `limit`, `action`, `workspace_id`, `from`, `until`), `GET .../audit/verify` | org key or access token |
//! | `GET, POST /api/v1/organization/keys`; `DELETE .../keys/{key_id}` | org key or access token |
//! | `GET /api/v1/organization/signing-keys`, `POST .../signing-keys/rotate`, `DELETE .../signing-keys/{kid}` | org key or access token |
//! | `POST /v1/applications/token` (also `/api/public/v1/...`, `/api/v1/account/...` and `/applications/token`) | client credentials |
//! | `GET /v1/health` | none |
//! | `GET /api/v1/openapi.json`, `GET /api/v1/docs` (and its `docs.js`, `docs.css`) | none |
//! | `GET /dashboard/`, `GET /widget/` and their files (`/dashboard/{file}`, `/widget/{file}`), `GET /favicon.ico` | none (the pages' files, see `assets`) |
//! | `GET, POST /v1/workspaces` | org key or access token |
//! | `GET, PATCH, DELETE /v1/workspaces/{workspaceId}` | org key or access token |
//! | `GET, POST /v1/sources`, `GET, POST /v1/destinations` | org key, access token or scoped token (its own workspace) |
//! | `GET, PATCH, PUT, DELETE /v1/sources/{sourceId}`, `/v1/destinations/{destinationId}` | org key, access token or scoped token (its own workspace) |
//! | `GET, POST /v1/connections`; `GET, PATCH, DELETE /v1/connections/{connectionId}` | org key, access token or scoped token (its own workspace) |
//! | `GET, POST /v1/jobs`; `GET, DELETE /v1/jobs/{jobId}` (start, read, cancel syncs) | org key, access token or scoped token (its own workspace) |
//! | `GET /v1/organizations` | org key or access token |
//! | `POST /api/v1/jobs/claim`, `POST /api/v1/jobs/{jobId}/heartbeat`, `POST .../complete` (the worker protocol, see `job_protocol`) | worker key, org key or access token |
//!
//! Every `/v1` route is also under `/api/public/v1` (self-managed Airbyte's path), in the
//! shapes the `airbyte-api` SDK sends and reads. An "org key" route also takes an access
//! token, and the dashboard's session cookie when the request has no `Authorization` header
//! (with `X-CSRF-Token` on every method but `GET`, `HEAD` and `OPTIONS`; see `session`).
//!
//! **Client credentials.** An organization's client id is its organization id; a client
//! secret is any live org key of it. `POST /v1/applications/token` (JSON or form body,
//! `grant_type` or `grant-type`) answers `{"access_token", "token_type": "Bearer",
//! "expires_in"}`: an opaque random token that stands for the org key for
//! [`ServerConfig::access_token_ttl`] (15 minutes by default), or less if the org key is
//! revoked or expires first. Access tokens live in this process's memory (as digests): a
//! restart forgets them, and a client asks for a new one on the 401. An access token is
//! refused (401) on every route that takes only a scoped token, and a scoped token on every
//! route that takes only an org key or an access token. The v1 sources, destinations,
//! connections and jobs routes take all three; a scoped token reaches only its own workspace
//! there.
//!
//! **Worker keys.** A worker key (`bh_wkr_`, `POST /api/v1/organization/keys` with
//! `{"role": "worker"}`) is an organization's key whose only power is the worker protocol's
//! three routes. Every other route, including those that need no credential, answers it with
//! a 403 `permission-denied` problem before it runs, and so do the client-credentials exchange
//! and the dashboard's sign-in when it is given as a secret (see `auth`).
//!
//! **Widget and CORS.** A widget token is a scoped token bound to one browser origin
//! (`allowed_origin`); only such a token, used from exactly that origin, gets
//! `Access-Control-Allow-Origin`, on the routes a scoped token may use. Any scoped token
//! sent from another site's page is refused (403); org keys and access tokens never get
//! CORS. See the `widget` module.
//!
//! Every error is RFC 9457 problem JSON (`application/problem+json`); see [`Problem`].
//!
//! **OpenAPI.** `GET /api/v1/openapi.json` serves an OpenAPI 3.1 document generated from the
//! handlers (utoipa): the router and the document are built from one value, `routes()` in
//! this file, so a route cannot be served without being documented, and `tests/api/openapi.rs`
//! checks both directions. The `/api/public/v1` copies of the `/v1` routes are listed once,
//! under `/v1`. `GET /api/v1/docs` is a page that lists the operations, served from the
//! binary (one ES module, one stylesheet, nothing inline, a strict Content-Security-Policy).
//!
//! ## Adding a route
//!
//! 1. Annotate the handler with `#[utoipa::path(...)]`: the method, the `path` (relative to
//!    `/v1` for a public v1 route, registered in `public_v1`; absolute otherwise), a `tag`
//!    (one `openapi::base()` declares; add a new one there with a line of description),
//!    an `operation_id` unique in the document (the function name is the default, so name
//!    it when two modules share a name), `params(...)` for path and query values, the
//!    `request_body`, and `responses(...)`: the success, then the problem types of
//!    `openapi.rs` the handler can answer (`BadRequest`, `Unauthorized`, `Forbidden`,
//!    `NotFound`, `Conflict`, `Gone`, `PayloadTooLarge`, `UnsupportedMediaType`,
//!    `Unprocessable`, `TooManyRequests`, `Unavailable`; 408 is added to every route). Name
//!    the credentials in `security(...)`: `("org_key" = []), ("access_token" = []),
//!    ("client_credentials" = [])` for an organization's route, `("scoped_token" = [])` for
//!    a customer's, all four for a route that takes either. The doc comment's first line is
//!    the summary, the rest the description. A route whose handler reads the raw query
//!    (`uri.query()`) lists its parameters as `params(("name" = Type, Query, ...))` tuples.
//! 2. Derive `utoipa::ToSchema` on its request and response types and give every field a
//!    doc comment; a field of one of the library's types takes
//!    `#[schema(value_type = ...)]` (`String, format = "uuid"` for an id,
//!    `crate::openapi::Timestamp` for a time, `Object` for a configuration, an entry of
//!    `wire_schemas!` in `openapi.rs` for a closed set of strings).
//! 3. Register it in `credential_routes()` (or `public_v1()`) with `.routes(routes!(module::handler))`,
//!    the handlers of one path in one `routes!`. Never with axum's `.route(...)`: the
//!    `tests/api/openapi.rs` source scan refuses it. The router serves the annotation's `path`
//!    as written, so its `{parameter}` names are the ones the document shows.
//!
//! A handler generic over a type (the v1 sources and destinations, the source and connection
//! templates) cannot be annotated; give each instance a thin annotated wrapper, as
//! `v1_connector_routes.rs` and `template_routes.rs` do.
//!
//! # Limits
//!
//! Each organization has a request rate ([`ServerConfig::rate_limit`], generous by default):
//! every answer to an authenticated request carries `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining` and `X-RateLimit-Reset`, and past the limit it is a 429 with
//! `Retry-After`, on top of the engine's own limit on creating workspaces. Past
//! [`ServerConfig::max_concurrent_requests`] requests in flight, a request is shed at once
//! with a 503 and `Retry-After`; at most [`ServerConfig::max_blocking_calls`] engine calls
//! are in flight at once, run by [`ServerConfig::engine_threads`] threads of the router's
//! own. Bodies are capped ([`ServerConfig::body_limit`],
//! 413) and read whole before the handler runs, even by routes that take none (so no answer
//! is lost to a connection closed with bytes unread); requests time out
//! ([`ServerConfig::request_timeout`], 408).
//!
//! Every response carries `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`
//! and, unless its handler set its own, `Content-Security-Policy: default-src 'none';
//! frame-ancestors 'none'`, `X-Frame-Options: DENY` and `Cache-Control: no-store`;
//! `Strict-Transport-Security` when [`ServerConfig::public_url`] is `https://`.

mod access;
mod assets;
mod auth;
mod conn;
mod dashboard;
mod docs;
mod embedded;
mod extract;
mod headers;
mod job_protocol;
mod limits;
mod openapi;
mod organization;
mod pages;
mod problem;
mod session;
mod template_routes;
mod templates;
mod v1;
mod v1_connections;
mod v1_connector_routes;
mod v1_connectors;
mod v1_jobs;
mod widget;
mod wire;
mod workers;
mod workspaces;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use bulkhead::Engine;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use job_protocol::{Endpoint, JobDocument, JobLease, Named};
pub use limits::{MAX_TRACKED_ORGS, RateLimit};
pub use problem::{PROBLEM_JSON, Problem};

/// The server's own settings; the engine's are in [`bulkhead::Config`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The largest request body accepted, in bytes (default 1 MiB); larger is a 413.
    pub body_limit: usize,
    /// How long a request may take (default 30 s); longer is a 408.
    pub request_timeout: Duration,
    /// The base URL clients reach this server at (`https://api.example.com`), used for the
    /// `next` links of list pages. Without it, `next` is a path (`/api/v1/workspaces?...`);
    /// it is never built from the request's `Host` header.
    pub public_url: Option<String>,
    /// How long an access token from `POST /v1/applications/token` lives (default 15
    /// minutes, Airbyte's own); its `expires_in` says so.
    pub access_token_ttl: Duration,
    /// Each organization's request rate (default [`RateLimit::default`]: generous); `None`
    /// turns the limit off. See [Limits](crate#limits).
    pub rate_limit: Option<RateLimit>,
    /// Requests answered at once (default 1024); past it a request is a 503 with
    /// `Retry-After` at once. `None` turns the cap off.
    pub max_concurrent_requests: Option<usize>,
    /// Engine calls in flight at once, running or queued for an engine thread (default
    /// 256); the others wait their turn within the request timeout.
    pub max_blocking_calls: usize,
    /// How long a dashboard session lives without a request (default 30 minutes; each
    /// request starts it again). See the `session` module.
    pub session_idle_timeout: Duration,
    /// Threads that run engine calls, which block on storage (default twice the machine's
    /// cores, at least 4: as many as SQLite's readers, and a few more to wait on the
    /// writer or on PostgreSQL). See [Limits](crate#limits).
    pub engine_threads: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            public_url: None,
            access_token_ttl: Duration::from_secs(15 * 60),
            rate_limit: Some(RateLimit::default()),
            max_concurrent_requests: Some(1024),
            max_blocking_calls: 256,
            session_idle_timeout: Duration::from_secs(30 * 60),
            engine_threads: std::thread::available_parallelism()
                .map_or(4, |n| n.get().saturating_mul(2))
                .max(4),
        }
    }
}

impl ServerConfig {
    /// Sets [`ServerConfig::body_limit`].
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Sets [`ServerConfig::request_timeout`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`ServerConfig::access_token_ttl`] (at least one second).
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// Sets [`ServerConfig::rate_limit`]; `None` turns it off.
    pub fn rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }

    /// Sets [`ServerConfig::max_concurrent_requests`] (at least 1); `None` turns it off.
    pub fn max_concurrent_requests(mut self, max: Option<usize>) -> Self {
        self.max_concurrent_requests = max.map(|m| m.max(1));
        self
    }

    /// Sets [`ServerConfig::max_blocking_calls`] (at least 1).
    pub fn max_blocking_calls(mut self, max: usize) -> Self {
        self.max_blocking_calls = max.max(1);
        self
    }

    /// Sets [`ServerConfig::session_idle_timeout`] (at least one second).
    pub fn session_idle_timeout(mut self, idle: Duration) -> Self {
        self.session_idle_timeout = idle.max(Duration::from_secs(1));
        self
    }

    /// Sets [`ServerConfig::engine_threads`] (at least 1).
    pub fn engine_threads(mut self, threads: usize) -> Self {
        self.engine_threads = threads.max(1);
        self
    }

    /// Sets [`ServerConfig::public_url`] (a trailing `/` is dropped).
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        let url: String = url.into();
        self.public_url = Some(url.trim_end_matches('/').to_owned());
        self
    }
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) engine: Engine,
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) access: Arc<access::AccessTokens>,
    pub(crate) org_keys: Arc<auth::OrgKeys>,
    pub(crate) sessions: Arc<session::Sessions>,
}

/// The HTTP API over `engine`. Mount it in a host's own axum app with
/// [`Router::merge`] or [`Router::nest`], or run it with [`serve`].
pub fn router(engine: Engine, config: ServerConfig) -> Router {
    let body_limit = config.body_limit;
    let timeout = config.request_timeout;
    let outer = config.clone();
    let state = AppState {
        engine,
        access: Arc::new(access::AccessTokens::new(config.access_token_ttl)),
        org_keys: Arc::new(auth::OrgKeys::default()),
        sessions: Arc::new(session::Sessions::new(config.session_idle_timeout)),
        config: Arc::new(config),
    };
    // The `/v1` routes once more under the self-managed prefix: the document lists them
    // once, under `/v1`, and says so.
    let (mirror, _) = public_v1(PUBLIC_V1_MIRROR).split_for_parts();
    let (router, _) = credential_routes().split_for_parts();
    let (jobs, _) = job_protocol_routes().split_for_parts();
    // A worker key is for the job protocol only: every other route refuses it before it runs
    // (`auth::refuse_worker_keys`), even a route that needs no credential.
    let router = router
        .nest(PUBLIC_V1_MIRROR, mirror)
        .layer(axum::middleware::from_fn(auth::refuse_worker_keys))
        .merge(jobs)
        .fallback(no_route)
        .with_state(state)
        .layer(axum::middleware::from_fn(widget::cors))
        .layer(axum::middleware::from_fn(read_body))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::map_response(problem::problemize));
    // Limits and security headers wrap everything above (issue 14, items 5 and 6).
    headers::layer(limits::layer(router, &outer), &outer)
}

/// Where the Airbyte public API v1 subset is served besides `/v1` (Airbyte Cloud's path):
/// the self-managed one.
const PUBLIC_V1_MIRROR: &str = "/api/public/v1";

/// Every route of the API with its OpenAPI operation: the one definition the router and the
/// document ([`openapi::document`]) both come from. A handler is registered here by
/// `routes!(module::handler)` (handlers of one path in one `routes!`), never by axum's
/// `route`, so it cannot be served without being documented.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    credential_routes().merge(job_protocol_routes())
}

/// The worker protocol's routes: the only ones a worker key reaches (see [`auth::WorkerAuth`]).
fn job_protocol_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(job_protocol::claim))
        .routes(routes!(job_protocol::heartbeat))
        .routes(routes!(job_protocol::complete))
}

/// Every route but the worker protocol's: the ones that refuse a worker key.
fn credential_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(embedded::scoped_token))
        .routes(routes!(embedded::token_info))
        .routes(routes!(widget::widget_token))
        .routes(routes!(workspaces::list))
        .routes(routes!(workspaces::stats))
        .routes(routes!(workspaces::overview))
        .routes(routes!(dashboard::recent_runs))
        .routes(routes!(dashboard::revoke_tokens))
        .routes(routes!(dashboard::merge))
        .routes(routes!(
            session::sign_in,
            session::current,
            session::sign_out
        ))
        .routes(routes!(
            workspaces::get,
            workspaces::patch,
            workspaces::put,
            workspaces::delete
        ))
        .routes(routes!(
            template_routes::sources::list,
            template_routes::sources::create
        ))
        .routes(routes!(
            template_routes::sources::get,
            template_routes::sources::patch,
            template_routes::sources::delete
        ))
        .routes(routes!(template_routes::sources::add_tag))
        .routes(routes!(template_routes::sources::remove_tag))
        .routes(routes!(
            template_routes::connections::list,
            template_routes::connections::create
        ))
        .routes(routes!(
            template_routes::connections::get,
            template_routes::connections::patch,
            template_routes::connections::delete
        ))
        .routes(routes!(template_routes::connections::add_tag))
        .routes(routes!(template_routes::connections::remove_tag))
        .routes(routes!(templates::list_tags, templates::create_tag))
        .routes(routes!(templates::rename_tag, templates::delete_tag))
        .routes(routes!(organization::stats))
        .routes(routes!(organization::audit))
        .routes(routes!(organization::verify))
        .routes(routes!(organization::list_keys, organization::create_key))
        .routes(routes!(organization::revoke_key))
        .routes(routes!(organization::signing_keys))
        .routes(routes!(organization::rotate))
        .routes(routes!(organization::retire))
        .routes(routes!(embedded::source_templates))
        .routes(routes!(embedded::create_source, embedded::list_sources))
        .routes(routes!(
            embedded::get_source,
            embedded::update_source,
            embedded::delete_source
        ))
        .routes(routes!(access::token))
        .routes(routes!(access::token_public_v1))
        .routes(routes!(access::token_account))
        .routes(routes!(access::token_root))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(docs::page))
        .routes(routes!(docs::script))
        .routes(routes!(docs::stylesheet))
        .routes(routes!(pages::favicon))
        .routes(routes!(pages::dashboard_redirect))
        .routes(routes!(pages::dashboard_page))
        .routes(routes!(pages::dashboard_file))
        .routes(routes!(pages::widget_page))
        .routes(routes!(pages::widget_file))
        .nest("/v1", public_v1("/v1"))
}

/// The Airbyte public API v1 routes, to nest under `prefix` (the token routes are in
/// [`routes()`], one documented operation per path).
fn public_v1(prefix: &'static str) -> OpenApiRouter<AppState> {
    use v1_connector_routes::{destinations, sources};
    OpenApiRouter::new()
        .routes(routes!(v1::health))
        .routes(routes!(v1::list_workspaces, v1::create_workspace))
        .routes(routes!(
            v1::get_workspace,
            v1::patch_workspace,
            v1::delete_workspace
        ))
        .routes(routes!(sources::list, sources::create))
        .routes(routes!(
            sources::get,
            sources::patch,
            sources::put,
            sources::delete
        ))
        .routes(routes!(destinations::list, destinations::create))
        .routes(routes!(
            destinations::get,
            destinations::patch,
            destinations::put,
            destinations::delete
        ))
        .routes(routes!(v1_connections::list, v1_connections::create))
        .routes(routes!(
            v1_connections::get,
            v1_connections::patch,
            v1_connections::delete
        ))
        .routes(routes!(v1_jobs::list, v1_jobs::create))
        .routes(routes!(v1_jobs::get_job, v1_jobs::cancel))
        .routes(routes!(v1_jobs::organizations))
        .layer(axum::Extension(v1::Prefix(prefix)))
}

/// Reads the whole request body (through the body limit) before the handler runs. A handler
/// that needs no body (a `GET`, or a refusal before parsing) would otherwise answer with the
/// body unread, and hyper then closes the connection with bytes unread: the kernel resets it,
/// and the peer may lose the answer still in flight (the property test found a `GET
/// /api/v1/openapi.json` with a body whose document never arrived). A body over the limit is
/// a 413, one that cannot be read a 400 (plain rejections, made problems by `problemize`).
async fn read_body(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::body::HttpBody as _;
    use axum::extract::FromRequest as _;
    use axum::response::IntoResponse as _;
    // Nothing to read (a request without a body, most `GET`s): on at once, without copying
    // the request's extensions for a read of nothing.
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    // The body alone, with the extensions that carry its limit.
    let mut alone = axum::extract::Request::new(body);
    *alone.extensions_mut() = parts.extensions.clone();
    match axum::body::Bytes::from_request(alone, &()).await {
        Ok(bytes) => {
            next.run(axum::extract::Request::from_parts(
                parts,
                axum::body::Body::from(bytes),
            ))
            .await
        }
        Err(rejection) => rejection.into_response(),
    }
}

async fn no_route() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no-route", "not found").detail("no such route")
}

/// Runs `router` on `listener` until `shutdown` completes, then stops accepting connections
/// and waits for the requests in flight to finish (each is bounded by the request timeout).
///
/// A request hyper cannot parse (a head over its buffer or with too many fields: 431; a
/// malformed one: 400; a target too long: 414) is answered by hyper before the router sees
/// it; `serve` makes those answers problem JSON too, which a host's own `axum::serve` of the
/// router does not.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Its connections answer hyper's own parse errors (431, 400, 414) as problems: `conn`.
    axum::serve(conn::Listener(listener), router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM: the `shutdown` of [`serve`] for a
/// server run by a process manager.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No handler could be installed: never resolve rather than stop at once.
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// Runs a blocking engine call on the router's engine threads (`workers`), never on an async
/// worker, and maps its error to a problem.
pub(crate) async fn blocking<T, F>(call: F) -> Result<T, Problem>
where
    T: Send + 'static,
    F: FnOnce() -> bulkhead::Result<T> + Send + 'static,
{
    run_blocking(move || call().map_err(Problem::from)).await
}

/// [`blocking`] for a call that answers problems of its own (a credential authenticated
/// together with the engine call it is for: see [`auth::ScopedAuth::run`]).
pub(crate) async fn run_blocking<T, F>(call: F) -> Result<T, Problem>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Problem> + Send + 'static,
{
    // Bounded per router (`limits`); the permit lives as long as the call itself.
    let permit = limits::engine_call_permit().await;
    if let Some(threads) = limits::engine_threads() {
        return threads
            .run(move || {
                let _permit = permit;
                call()
            })
            .await;
    }
    // Outside a router's limits (no engine threads): tokio's blocking pool.
    match tokio::task::spawn_blocking(move || {
        let _permit = permit;
        call()
    })
    .await
    {
        Ok(result) => result,
        Err(_) => {
            tracing::error!(target: "bulkhead::server", "an engine call panicked or was cancelled");
            Err(Problem::internal())
        }
    }
}
