//! Load limits: a per-organization request rate, a cap on requests in flight, and a bound on
//! the engine calls running at once.
//!
//! - **Rate.** Each organization has a token bucket ([`RateLimit`]: so many requests per
//!   window, refilled steadily), kept in this process's memory and keyed by organization id. A request is
//!   charged once its credential is authenticated (an org key, an access token or a scoped
//!   token, or client credentials at `POST /v1/applications/token`: the organization is
//!   known only then), before the engine does its work. Every
//!   answer to an authenticated request carries `X-RateLimit-Limit` (the burst),
//!   `X-RateLimit-Remaining` and `X-RateLimit-Reset` (whole seconds, rounded up, until the
//!   bucket is full again); past the limit the answer is a 429 problem with `Retry-After`. This sits on top
//!   of the engine's own limit on creating workspaces, which answers 429 with `Retry-After`
//!   too. The buckets are bounded ([`MAX_TRACKED_ORGS`]): a full bucket is the same as no
//!   bucket, so those are dropped first.
//! - **Requests in flight.** Past [`ServerConfig::max_concurrent_requests`] a request is
//!   answered at once with a 503 problem and `Retry-After: 1` (load shedding) instead of
//!   queueing without bound.
//! - **Engine calls.** Engine calls block on storage and run on the router's own engine
//!   threads ([`crate::blocking`], [`ServerConfig::engine_threads`] of them, see
//!   `workers`); at most [`ServerConfig::max_blocking_calls`] of this router's are in flight
//!   (running or queued) at once, the others wait their turn (within the request timeout).
//!   The permit is held by the call itself, so a call that outlives its timed-out request
//!   still counts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bulkhead::OrgId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ServerConfig;
use crate::problem::Problem;
use crate::workers::Workers;

/// At most this many organizations' buckets are kept; past it, full buckets (which hold no
/// state) are dropped first, then arbitrary ones (which only forgives that organization's
/// recent requests).
pub const MAX_TRACKED_ORGS: usize = 100_000;

/// A per-organization request rate: `requests` per `window`, as a token bucket of `requests`
/// that refills steadily over `window` (so a burst of `requests` is allowed from a full
/// bucket, and `requests / window` a second after that).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimit {
    /// The bucket's size: requests an organization may make at once (the `X-RateLimit-Limit`).
    pub requests: u32,
    /// How long an empty bucket takes to fill again.
    pub window: Duration,
}

impl RateLimit {
    /// `requests` (at least 1) per `window` (at least a millisecond).
    pub fn new(requests: u32, window: Duration) -> Self {
        Self {
            requests: requests.max(1),
            window: window.max(Duration::from_millis(1)),
        }
    }

    /// Requests a second the bucket refills at.
    fn per_second(self) -> f64 {
        f64::from(self.requests) / self.window.as_secs_f64()
    }
}

impl Default for RateLimit {
    /// Generous: 200,000 requests per 10 seconds (20,000 a second), far above what one
    /// organization's honest clients send to one server, and above what the benchmarks send.
    fn default() -> Self {
        Self::new(200_000, Duration::from_secs(10))
    }
}

const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// One organization's bucket.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Every organization's bucket.
struct Buckets {
    limit: RateLimit,
    buckets: Mutex<HashMap<OrgId, Bucket>>,
}

/// What one charge left: the headers of the answer.
#[derive(Clone, Copy, Debug)]
struct Quota {
    limit: u32,
    remaining: u32,
    /// Until the bucket is full again.
    reset: Duration,
    /// Until one request is allowed again, when this one was refused.
    retry_after: Option<Duration>,
}

impl Buckets {
    fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `org`'s bucket at `now`.
    fn charge(&self, org: OrgId, now: Instant) -> Quota {
        let burst = f64::from(self.limit.requests);
        let rate = self.limit.per_second();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED_ORGS && !buckets.contains_key(&org) {
            buckets.retain(|_, b| b.tokens + rate * now.duration_since(b.at).as_secs_f64() < burst);
            if buckets.len() >= MAX_TRACKED_ORGS
                && let Some(victim) = buckets.keys().next().copied()
            {
                buckets.remove(&victim);
            }
        }
        let bucket = buckets.entry(org).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now;
        let retry_after = if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        };
        // tokens is within 0..=burst (a u32), and truncation is the honest reading: a
        // fraction of a request is not one.
        let remaining = bucket.tokens.floor() as u32;
        Quota {
            limit: self.limit.requests,
            remaining,
            reset: Duration::from_secs_f64((burst - bucket.tokens) / rate),
            retry_after,
        }
    }
}

/// What the middleware hands the credential extractors through the request's extensions.
#[derive(Clone)]
struct Meter {
    buckets: Arc<Buckets>,
    quota: Arc<OnceLock<Quota>>,
}

/// Charges one request to `org`, the organization the request's credential was just
/// authenticated for: a 429 problem past its limit. Called by the credential extractors
/// (`crate::auth`); a router without rate limits has no meter and charges nothing.
pub(crate) fn charge(parts: &Parts, org: OrgId) -> Result<(), Problem> {
    match parts.extensions.get::<Meter>() {
        Some(meter) => meter.charge(org),
        None => Ok(()),
    }
}

/// The rate meter of the request, for a handler that authenticates by itself (the client
/// credentials of `POST /v1/applications/token` are in its body).
pub(crate) struct RateMeter(Option<Meter>);

impl<S: Send + Sync> FromRequestParts<S> for RateMeter {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts))
    }
}

impl RateMeter {
    /// The rate meter of the request of `parts`.
    pub(crate) fn of(parts: &Parts) -> Self {
        Self(parts.extensions.get::<Meter>().cloned())
    }

    /// Charges one request to `org`, just authenticated: a 429 past its limit.
    pub(crate) fn charge(&self, org: OrgId) -> Result<(), Problem> {
        match &self.0 {
            Some(meter) => meter.charge(org),
            None => Ok(()),
        }
    }
}

impl Meter {
    fn charge(&self, org: OrgId) -> Result<(), Problem> {
        let quota = self.buckets.charge(org, Instant::now());
        // A request authenticates once; should an extractor run twice, the first charge speaks.
        let quota = *self.quota.get_or_init(|| quota);
        match quota.retry_after {
            None => Ok(()),
            Some(after) => Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "rate limited",
            )
            .detail(format!(
                "the organization sent more than {} requests in {} s; retry after the time in \
             Retry-After",
                quota.limit,
                self.buckets.limit.window.as_secs_f64()
            ))
            .retry_after(after)),
        }
    }
}

/// Whole seconds, rounded up: a client that waits that long is not refused again.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

async fn rate(buckets: Arc<Buckets>, mut req: Request, next: Next) -> Response {
    let quota = Arc::new(OnceLock::new());
    req.extensions_mut().insert(Meter {
        buckets,
        quota: Arc::clone(&quota),
    });
    let mut response = next.run(req).await;
    if let Some(q) = quota.get() {
        let headers = response.headers_mut();
        headers.insert(LIMIT, HeaderValue::from(q.limit));
        headers.insert(REMAINING, HeaderValue::from(q.remaining));
        headers.insert(RESET, HeaderValue::from(ceil_secs(q.reset)));
    }
    response
}

/// Answers 503 at once when `in_flight` has no permit left.
async fn shed(in_flight: Arc<Semaphore>, req: Request, next: Next) -> Response {
    match in_flight.try_acquire_owned() {
        Ok(permit) => {
            let response = next.run(req).await;
            drop(permit);
            response
        }
        Err(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "service unavailable",
        )
        .detail("the server is answering as many requests as it takes at once; retry shortly")
        .retry_after(Duration::from_secs(1))
        .into_response(),
    }
}

tokio::task_local! {
    /// The bound on the engine calls of the router handling the current request.
    static ENGINE_CALLS: Arc<Semaphore>;
    /// The engine threads of the router handling the current request.
    static ENGINE_THREADS: Option<Arc<Workers>>;
}

async fn bound_engine_calls(
    calls: Arc<Semaphore>,
    threads: Option<Arc<Workers>>,
    req: Request,
    next: Next,
) -> Response {
    ENGINE_THREADS
        .scope(threads, ENGINE_CALLS.scope(calls, next.run(req)))
        .await
}

/// The engine threads of the router handling the current request, if it has any.
pub(crate) fn engine_threads() -> Option<Arc<Workers>> {
    ENGINE_THREADS.try_with(Clone::clone).ok().flatten()
}

/// A permit to run one engine call, when the current request runs under a bound (a router
/// built by [`crate::router`]); waits for one when all are taken.
pub(crate) async fn engine_call_permit() -> Option<OwnedSemaphorePermit> {
    let calls = ENGINE_CALLS.try_with(Arc::clone).ok()?;
    // The semaphore is never closed, so an error cannot happen; without a permit the call
    // would still run, unbounded, rather than fail.
    calls.acquire_owned().await.ok()
}

/// Wraps `router` (already carrying its state) in the limits of `config`: the engine-call
/// bound innermost, then the rate meter, then load shedding outermost, so a shed request
/// costs nothing.
pub(crate) fn layer(router: Router, config: &ServerConfig) -> Router {
    let calls = Arc::new(Semaphore::new(config.max_blocking_calls.max(1)));
    let threads = Workers::start(config.engine_threads).map(Arc::new);
    let mut router = router.layer(axum::middleware::from_fn(move |req, next| {
        bound_engine_calls(Arc::clone(&calls), threads.clone(), req, next)
    }));
    if let Some(limit) = config.rate_limit {
        let buckets = Arc::new(Buckets::new(limit));
        router = router.layer(axum::middleware::from_fn(move |req, next| {
            rate(Arc::clone(&buckets), req, next)
        }));
    }
    if let Some(max) = config.max_concurrent_requests {
        let in_flight = Arc::new(Semaphore::new(max.max(1)));
        router = router.layer(axum::middleware::from_fn(move |req, next| {
            shed(Arc::clone(&in_flight), req, next)
        }));
    }
    router
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_bucket_refuses_past_its_burst_and_refills_at_its_rate() {
        let buckets = Buckets::new(RateLimit::new(3, Duration::from_millis(1500)));
        let org = OrgId::random();
        let t0 = Instant::now();
        let remaining: Vec<u32> = (0..3).map(|_| buckets.charge(org, t0).remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = buckets.charge(org, t0);
        assert_eq!(refused.retry_after, Some(Duration::from_millis(500)));
        assert_eq!(ceil_secs(refused.reset), 2);
        // Half a second later one request is back.
        let later = buckets.charge(org, t0 + Duration::from_millis(500));
        assert_eq!(later.retry_after, None);
        assert_eq!(later.remaining, 0);
    }

    #[test]
    fn an_engine_call_holds_its_permit_while_it_runs() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let calls = Arc::new(Semaphore::new(1));
        let inside = Arc::clone(&calls);
        let during = runtime
            .block_on(ENGINE_CALLS.scope(Arc::clone(&calls), async move {
                crate::blocking(move || Ok(inside.available_permits())).await
            }))
            .unwrap();
        assert_eq!(during, 0, "the call ran holding the only permit");
        assert_eq!(calls.available_permits(), 1, "and gave it back");
    }

    #[test]
    fn organizations_have_their_own_buckets() {
        let buckets = Buckets::new(RateLimit::new(1, Duration::from_secs(1)));
        let t0 = Instant::now();
        let (a, b) = (OrgId::random(), OrgId::random());
        assert!(buckets.charge(a, t0).retry_after.is_none());
        assert!(buckets.charge(a, t0).retry_after.is_some());
        assert!(buckets.charge(b, t0).retry_after.is_none());
    }

    #[test]
    fn full_buckets_are_dropped_first_when_too_many_orgs_are_tracked() {
        let buckets = Buckets::new(RateLimit::new(2, Duration::from_secs(2)));
        let t0 = Instant::now();
        let busy = OrgId::random();
        buckets.charge(busy, t0);
        {
            let mut map = buckets.buckets.lock().unwrap();
            while map.len() < MAX_TRACKED_ORGS {
                map.insert(
                    OrgId::random(),
                    Bucket {
                        tokens: 2.0,
                        at: t0,
                    },
                );
            }
        }
        buckets.charge(OrgId::random(), t0);
        let map = buckets.buckets.lock().unwrap();
        assert_eq!(map.len(), 2, "only the busy org and the new one are kept");
        assert!(map.contains_key(&busy));
    }
}
