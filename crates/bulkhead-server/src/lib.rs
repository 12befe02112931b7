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
//! async workers (`tokio::task::spawn_blocking`: engine calls block on storage), and maps the
//! result. Every rule (isolation, tokens, limits, audit) stays in the engine.
//!
//! Routes so far (the foundation of issue 14):
//!
//! | method, path | credential |
//! | --- | --- |
//! | `POST /api/v1/embedded/scoped-token` | org key |
//! | `GET /api/v1/embedded/scoped-token/info` | scoped token |
//! | `GET /api/v1/embedded/source-templates` | scoped token |
//! | `POST, GET /api/v1/embedded/sources` | scoped token |
//! | `GET, PUT, DELETE /api/v1/embedded/sources/{id}` | scoped token |
//! | `GET /api/v1/workspaces`, `GET /api/v1/workspaces/{id}` | org key |
//! | `POST /v1/applications/token` (also `/api/public/v1/...`, `/api/v1/account/...` and `/applications/token`) | client credentials |
//! | `GET /v1/health` | none |
//! | `GET, POST /v1/workspaces` | org key or access token |
//! | `GET, PATCH, DELETE /v1/workspaces/{workspaceId}` | org key or access token |
//! | `GET, POST /v1/sources`, `GET, POST /v1/destinations` | org key, access token or scoped token (its own workspace) |
//! | `GET, PATCH, PUT, DELETE /v1/sources/{sourceId}`, `/v1/destinations/{destinationId}` | org key, access token or scoped token (its own workspace) |
//! | `GET, POST /v1/connections`; `GET, PATCH, DELETE /v1/connections/{connectionId}` | org key, access token or scoped token (its own workspace) |
//!
//! Every `/v1` route is also under `/api/public/v1` (self-managed Airbyte's path), in the
//! shapes the `airbyte-api` SDK sends and reads. An "org key" route also takes an access
//! token.
//!
//! **Client credentials.** An organization's client id is its organization id; a client
//! secret is any live org key of it. `POST /v1/applications/token` (JSON or form body,
//! `grant_type` or `grant-type`) answers `{"access_token", "token_type": "Bearer",
//! "expires_in"}`: an opaque random token that stands for the org key for
//! [`ServerConfig::access_token_ttl`] (15 minutes by default), or less if the org key is
//! revoked or expires first. Access tokens live in this process's memory (as digests): a
//! restart forgets them, and a client asks for a new one on the 401. An access token is
//! refused (401) on every route that takes only a scoped token, and a scoped token on every
//! route that takes only an org key or an access token. The v1 sources, destinations and connections routes take all
//! three;
//! a scoped token reaches only its own workspace there.
//!
//! Every error is RFC 9457 problem JSON (`application/problem+json`); see [`Problem`].

mod access;
mod auth;
mod embedded;
mod extract;
mod problem;
mod v1;
mod v1_connections;
mod v1_connectors;
mod wire;
mod workspaces;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use bulkhead::Engine;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            public_url: None,
            access_token_ttl: Duration::from_secs(15 * 60),
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
}

/// The HTTP API over `engine`. Mount it in a host's own axum app with
/// [`Router::merge`] or [`Router::nest`], or run it with [`serve`].
pub fn router(engine: Engine, config: ServerConfig) -> Router {
    let body_limit = config.body_limit;
    let timeout = config.request_timeout;
    let state = AppState {
        engine,
        access: Arc::new(access::AccessTokens::new(config.access_token_ttl)),
        org_keys: Arc::new(auth::OrgKeys::default()),
        config: Arc::new(config),
    };
    let mut router = Router::new()
        .route(
            "/api/v1/embedded/scoped-token",
            post(embedded::scoped_token),
        )
        .route(
            "/api/v1/embedded/scoped-token/info",
            get(embedded::token_info),
        )
        .route(
            "/api/v1/embedded/source-templates",
            get(embedded::source_templates),
        )
        .route(
            "/api/v1/embedded/sources",
            post(embedded::create_source).get(embedded::list_sources),
        )
        .route(
            "/api/v1/embedded/sources/{source_id}",
            get(embedded::get_source)
                .put(embedded::update_source)
                .delete(embedded::delete_source),
        )
        .route("/api/v1/workspaces", get(workspaces::list))
        .route("/api/v1/workspaces/{workspace_id}", get(workspaces::get))
        .route("/api/v1/account/applications/token", post(access::token))
        // The `airbyte-api` SDK's default `token_url` drops the base path.
        .route("/applications/token", post(access::token));
    for prefix in V1_PREFIXES {
        router = router.nest(prefix, public_v1(prefix));
    }
    router
        .fallback(no_route)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::map_response(problem::problemize))
}

/// Where the Airbyte public API v1 subset is served: Airbyte Cloud's path and the
/// self-managed one.
const V1_PREFIXES: [&str; 2] = ["/v1", "/api/public/v1"];

/// The Airbyte public API v1 routes, to nest under `prefix`.
fn public_v1(prefix: &'static str) -> Router<AppState> {
    Router::new()
        .route("/applications/token", post(access::token))
        .route("/health", get(v1::health))
        .route(
            "/workspaces",
            get(v1::list_workspaces).post(v1::create_workspace),
        )
        .route(
            "/workspaces/{workspace_id}",
            get(v1::get_workspace)
                .patch(v1::patch_workspace)
                .delete(v1::delete_workspace),
        )
        .merge(connector_routes::<v1_connectors::Sources>())
        .merge(connector_routes::<v1_connectors::Destinations>())
        .route(
            "/connections",
            get(v1_connections::list).post(v1_connections::create),
        )
        .route(
            "/connections/{connection_id}",
            get(v1_connections::get)
                .patch(v1_connections::patch)
                .delete(v1_connections::delete),
        )
        .layer(axum::Extension(v1::Prefix(prefix)))
}

/// `/{plural}` and `/{plural}/{id}` of the v1 sources or destinations.
fn connector_routes<K: v1_connectors::Kind>() -> Router<AppState> {
    use v1_connectors as c;
    Router::new()
        .route(
            &format!("/{}", K::PLURAL),
            get(c::list::<K>).post(c::create::<K>),
        )
        .route(
            &format!("/{}/{{id}}", K::PLURAL),
            get(c::get::<K>)
                .patch(c::patch::<K>)
                .put(c::put::<K>)
                .delete(c::delete::<K>),
        )
}

async fn no_route() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no-route", "not found").detail("no such route")
}

/// Runs `router` on `listener` until `shutdown` completes, then stops accepting connections
/// and waits for the requests in flight to finish (each is bounded by the request timeout).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
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

/// Runs a blocking engine call on tokio's blocking pool, never on an async worker, and maps
/// its error to a problem.
pub(crate) async fn blocking<T, F>(call: F) -> Result<T, Problem>
where
    T: Send + 'static,
    F: FnOnce() -> bulkhead::Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(call).await {
        Ok(result) => result.map_err(Problem::from),
        Err(_) => {
            tracing::error!(target: "bulkhead::server", "an engine call panicked or was cancelled");
            Err(Problem::internal())
        }
    }
}
