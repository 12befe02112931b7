//! HTTP load (issue 14): the real router of `bulkhead-server` on `127.0.0.1:0`, driven by N
//! concurrent keep-alive HTTP/1.1 connections, side by side with a bare axum app that answers
//! the same bytes.
//!
//! Four targets, run one after the other in each round (rounds interleave them, so drift of
//! the machine hits all four alike):
//!
//! - `baseline sources`: a bare axum `GET /v1/sources` handler returning the bytes Bulkhead
//!   answered to the same request (captured once before the rounds);
//! - `bulkhead sources`: `GET /v1/sources?limit=20` with a scoped token (verify, one
//!   workspace read, a guarded page of 20 of the workspace's 25 sources, JSON);
//! - `baseline scoped-token`: a bare axum `POST` handler that answers the bytes of a captured
//!   scoped-token response (it reads the body, parses nothing);
//! - `bulkhead scoped-token`: `POST /api/v1/embedded/scoped-token` with the org key for a
//!   workspace that exists (org key check, get-or-create, audited issuance, mint).
//!
//! Everything runs in this process on loopback: the server on a tokio runtime with two
//! workers (engine calls on its blocking pool), the client on one thread of its own. Client
//! and server share the machine's cores, so the figures are what one box does talking to
//! itself, and the ratio is the point.
//!
//! The client is a minimal HTTP/1.1 loop over `tokio::net::TcpStream` (one request in flight
//! per connection, `Content-Length` framing, which is all both servers send): it adds as
//! little work of its own as possible.
//!
//! Bounded by default (CI-sized; `.ci/run` only compiles it): 64 connections, 1 s per target
//! and round, 2 rounds, at most 200,000 requests per target and round. Environment:
//!
//! - `BULKHEAD_HTTP_CONNS` (default 64), `BULKHEAD_HTTP_SECS` (default 1),
//!   `BULKHEAD_HTTP_ROUNDS` (default 2), `BULKHEAD_HTTP_MAX_REQUESTS` (default 200000);
//! - `BULKHEAD_HTTP_PG=0` to skip PostgreSQL (on by default; it starts the testkit's
//!   throw-away server, or uses `BULKHEAD_PG_URL` as the testkit does);
//! - `BULKHEAD_HTTP_ONLY=sources` or `=token` to run only one pair; `=floor` runs two other
//!   pairs instead, which show what the pairs above cannot go below: `GET /v1/health` on
//!   Bulkhead's router (its whole middleware stack, no engine call) against a bare handler
//!   answering the same bytes, and a bare sources handler whose answer takes one hop through
//!   tokio's blocking pool (`baseline offload`, the hop every engine call takes) against the
//!   bare sources handler;
//! - `BULKHEAD_HTTP_ENGINE_THREADS` for the server's engine threads (default: the server's
//!   own, `ServerConfig::engine_threads`).
//!
//! Each row also shows the process's CPU time per request (`/proc/self/stat`, user and
//! system, all threads: server, client and all): on a machine shared with other work it
//! moves less than requests per second do.
//!
//! `cargo bench -p bulkhead-benches --bench http`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "bench setup: a failure here is a broken bench, not a library bug"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::{get, post};
use bulkhead::postgres::{PgOptions, Roles, provision};
use bulkhead::{
    Config, ConnectorConfig, Engine, MasterKey, NewSource, OrgScope, ScopedTokenRequest,
};
use bulkhead_testkit::pg::PgServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The allocator `bulkhead serve` runs with (see the `bulkhead` binary).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sources in the measured workspace (and in its neighbour); a page is 20 of them.
const SOURCES: usize = 25;
const CUSTOMER: &str = "bench-customer";
const TOKEN_BODY: &str = r#"{"external_id":"bench-customer"}"#;
/// Bulkhead's answer to `GET /v1/health`, for the floor pair's bare handler.
const HEALTH_BODY: &str = r#"{"available":true}"#;

struct Settings {
    conns: usize,
    secs: f64,
    rounds: usize,
    max_requests: u64,
    pg: bool,
    only: Option<String>,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Settings {
    fn from_env() -> Self {
        Self {
            conns: env_or("BULKHEAD_HTTP_CONNS", 64_usize).max(1),
            secs: env_or("BULKHEAD_HTTP_SECS", 1.0_f64).max(0.05),
            rounds: env_or("BULKHEAD_HTTP_ROUNDS", 2_usize).max(1),
            max_requests: env_or("BULKHEAD_HTTP_MAX_REQUESTS", 200_000_u64).max(1),
            pg: std::env::var("BULKHEAD_HTTP_PG").map_or(true, |v| v != "0"),
            only: std::env::var("BULKHEAD_HTTP_ONLY").ok(),
        }
    }

    fn runs(&self, pair: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == pair)
    }
}

/// One thing the client sends again and again.
struct Target {
    name: String,
    addr: SocketAddr,
    request: Arc<[u8]>,
}

/// This process's CPU time so far (user and system, all threads), from `/proc/self/stat`,
/// in clock ticks (1/100 s on Linux); `None` where there is no such file.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// What one run of a target measured.
struct Outcome {
    /// CPU time of the whole process (server, client, both) per request, in µs: steadier
    /// than requests per second on a machine shared with other work.
    cpu_us_per_request: Option<f64>,
    requests: u64,
    errors: u64,
    elapsed: Duration,
    p50_us: u32,
    p99_us: u32,
    max_us: u32,
}

impl Outcome {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

fn get_request(path: &str, bearer: &str) -> Arc<[u8]> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {bearer}\r\n\r\n")
        .into_bytes()
        .into()
}

fn post_request(path: &str, bearer: &str, body: &str) -> Arc<[u8]> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {bearer}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
    .into()
}

/// Reads one response into `buf` (cleared first); returns its status and body.
async fn read_response<'b>(
    stream: &mut TcpStream,
    buf: &'b mut Vec<u8>,
) -> std::io::Result<(u16, &'b [u8])> {
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(std::io::Error::other)?;
    let status: u16 = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .ok_or_else(|| std::io::Error::other("no content-length"))?;
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok((status, &buf[head_end..head_end + length]))
}

/// One request and its response's status and body, on a new connection.
async fn once(addr: SocketAddr, request: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let (status, body) = read_response(&mut stream, &mut buf).await.unwrap();
    (status, body.to_vec())
}

/// Drives `target` with `conns` keep-alive connections for `secs` (or `max` requests).
async fn drive(target: &Target, conns: usize, secs: f64, max: u64) -> Outcome {
    let mut streams = Vec::with_capacity(conns);
    for _ in 0..conns {
        let stream = TcpStream::connect(target.addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        streams.push(stream);
    }
    let budget = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let cpu_before = cpu_ticks();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    let mut tasks = Vec::with_capacity(conns);
    for mut stream in streams {
        let request = Arc::clone(&target.request);
        let budget = Arc::clone(&budget);
        let errors = Arc::clone(&errors);
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(4096);
            let mut buf = Vec::with_capacity(16 * 1024);
            while Instant::now() < deadline && budget.fetch_add(1, Ordering::Relaxed) < max {
                let sent = Instant::now();
                stream.write_all(&request).await.unwrap();
                let (status, _) = read_response(&mut stream, &mut buf).await.unwrap();
                latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                if status != 200 {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    let cpu = cpu_before
        .zip(cpu_ticks())
        .map(|(a, b)| b.saturating_sub(a));
    all.sort_unstable();
    let at = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    Outcome {
        cpu_us_per_request: cpu.map(|ticks| ticks as f64 * 10_000.0 / all.len().max(1) as f64),
        requests: all.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        elapsed,
        p50_us: at(0.50),
        p99_us: at(0.99),
        max_us: all.last().copied().unwrap_or(0),
    }
}

/// The bare baseline: answers `sources` to `GET /v1/sources` and `token` to `POST
/// /api/v1/embedded/scoped-token`, as `application/json`, like Bulkhead does.
fn baseline_app(sources: Vec<u8>, token: Vec<u8>) -> Router {
    let sources = Bytes::from(sources);
    let offload_body = sources.clone();
    let token = Bytes::from(token);
    Router::new()
        .route(
            "/v1/sources",
            get(move || {
                let body = sources.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], body) }
            }),
        )
        // The floor pair (`BULKHEAD_HTTP_ONLY=floor`, see the module docs).
        .route(
            "/v1/health",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], HEALTH_BODY) }),
        )
        .route(
            "/offload/sources",
            get(move || {
                let body = offload_body.clone();
                async move {
                    // The hop every engine call takes: off the async workers and back.
                    let body = tokio::task::spawn_blocking(move || body).await.unwrap();
                    ([(header::CONTENT_TYPE, "application/json")], body)
                }
            }),
        )
        .route(
            "/api/v1/embedded/scoped-token",
            post(move |_body: Bytes| {
                let body = token.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], body) }
            }),
        )
}

/// An organization with a workspace of [`SOURCES`] sources (and a neighbour with as many);
/// returns its org key and a scoped token of the workspace.
fn seed(engine: &Engine) -> (String, String) {
    let (_, key) = engine.create_organization("Bench").unwrap();
    let key = key.expose().to_owned();
    let org: OrgScope = engine.authenticate_org(&key).unwrap();
    for customer in ["bench-neighbour", CUSTOMER] {
        let ws = org
            .get_or_create_workspace(&customer.parse().unwrap())
            .unwrap()
            .workspace;
        let scope = org.workspace(ws.id).unwrap();
        for n in 0..SOURCES {
            scope
                .create_source(NewSource {
                    name: format!("Source {n}").parse().unwrap(),
                    connector: "stripe".parse().unwrap(),
                    config: ConnectorConfig::from_json(bulkhead_benches::SOURCE_CONFIG).unwrap(),
                })
                .unwrap();
        }
    }
    let token = org
        .scoped_token(&ScopedTokenRequest::new(CUSTOMER.parse().unwrap()))
        .unwrap()
        .token
        .expose()
        .to_owned();
    (key, token)
}

/// An engine on a new schema of the testkit's PostgreSQL server, as the restricted role.
fn pg_engine() -> Engine {
    const OWNER: &str = "bulkhead_owner";
    const APP: &str = "bulkhead_app";
    let server = PgServer::shared();
    provision(
        server.admin_url(),
        &Roles {
            schema: "bulkhead".to_owned(),
            owner: OWNER.to_owned(),
            app: APP.to_owned(),
        },
    )
    .unwrap();
    let schema = format!("bench_http_{}", std::process::id());
    let mut admin = postgres::Client::connect(server.admin_url(), postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema} AUTHORIZATION {OWNER}"
        ))
        .unwrap();
    let mut config = Config::default().with_master_key(MasterKey::generate().unwrap());
    config.postgres = PgOptions {
        schema,
        owner_url: Some(server.url_for(OWNER)),
        ..PgOptions::default()
    };
    Engine::connect_postgres(&server.url_for(APP), config).unwrap()
}

/// The server's settings: the defaults, but for `BULKHEAD_HTTP_ENGINE_THREADS` when set.
fn server_config() -> bulkhead_server::ServerConfig {
    let config = bulkhead_server::ServerConfig::default();
    match std::env::var("BULKHEAD_HTTP_ENGINE_THREADS") {
        Ok(n) => config.engine_threads(n.parse().expect("BULKHEAD_HTTP_ENGINE_THREADS: a number")),
        Err(_) => config,
    }
}

/// Serves `app` on `127.0.0.1:0` on `rt`; returns the address.
fn spawn_server(rt: &tokio::runtime::Runtime, app: Router) -> SocketAddr {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(bulkhead_server::serve(
            listener,
            app,
            std::future::pending(),
        ));
        addr
    })
}

fn print_row(store: &str, name: &str, round: usize, o: &Outcome) {
    println!(
        "{store:<10} {name:<22} round {round}: {:>9.0} req/s  p50 {:>6} µs  p99 {:>6} µs  max {:>7} µs  cpu {:>6.1} µs/req  ({} requests, {} non-200, {:.2} s)",
        o.rps(),
        o.p50_us,
        o.p99_us,
        o.max_us,
        o.cpu_us_per_request.unwrap_or(f64::NAN),
        o.requests,
        o.errors,
        o.elapsed.as_secs_f64()
    );
}

/// Runs every target of one store, interleaved, and prints rows and ratios.
fn measure(store: &str, engine: Engine, settings: &Settings) {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (org_key, scoped) = seed(&engine);
    // Dropped after the server's runtime: the last engine handle must not go on one of its
    // workers (the PostgreSQL client blocks on a runtime of its own when it closes).
    let keep = engine.clone();
    let bulkhead_addr = spawn_server(&server_rt, bulkhead_server::router(engine, server_config()));
    let sources_request = get_request("/v1/sources?limit=20", &scoped);
    let token_request = post_request("/api/v1/embedded/scoped-token", &org_key, TOKEN_BODY);
    // The bytes the baseline answers: Bulkhead's own answers to the same requests.
    let (sources_body, token_body) = client_rt.block_on(async {
        let (status, sources) = once(bulkhead_addr, &sources_request).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&sources));
        let listed: serde_json::Value = serde_json::from_slice(&sources).unwrap();
        assert_eq!(listed["data"].as_array().unwrap().len(), 20, "a page of 20");
        let (status, token) = once(bulkhead_addr, &token_request).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&token));
        let issued: serde_json::Value = serde_json::from_slice(&token).unwrap();
        assert_eq!(issued["workspace_created"], false, "an existing workspace");
        (sources, token)
    });
    println!(
        "{store}: a page of sources is {} bytes, a scoped-token answer {} bytes",
        sources_body.len(),
        token_body.len()
    );
    let baseline_addr = spawn_server(&server_rt, baseline_app(sources_body, token_body));
    let mut targets = Vec::new();
    if settings.runs("sources") {
        targets.push(Target {
            name: "baseline sources".to_owned(),
            addr: baseline_addr,
            request: Arc::clone(&sources_request),
        });
        targets.push(Target {
            name: "bulkhead sources".to_owned(),
            addr: bulkhead_addr,
            request: Arc::clone(&sources_request),
        });
    }
    // Only when asked for by name: what the two pairs above cannot go below.
    if settings.only.as_deref() == Some("floor") {
        let health = get_request("/v1/health", &scoped);
        for (name, addr, request) in [
            ("baseline health", baseline_addr, Arc::clone(&health)),
            ("bulkhead health", bulkhead_addr, health),
            (
                "baseline sources",
                baseline_addr,
                Arc::clone(&sources_request),
            ),
            (
                "baseline offload",
                baseline_addr,
                get_request("/offload/sources", &scoped),
            ),
        ] {
            targets.push(Target {
                name: name.to_owned(),
                addr,
                request,
            });
        }
    }
    if settings.runs("token") {
        targets.push(Target {
            name: "baseline scoped-token".to_owned(),
            addr: baseline_addr,
            request: Arc::clone(&token_request),
        });
        targets.push(Target {
            name: "bulkhead scoped-token".to_owned(),
            addr: bulkhead_addr,
            request: Arc::clone(&token_request),
        });
    }
    // Warm-up: connections, thread pools, statement caches.
    for target in &targets {
        client_rt.block_on(drive(target, settings.conns, 0.2, settings.max_requests));
    }
    let mut results: Vec<Vec<Outcome>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 1..=settings.rounds {
        for (target, results) in targets.iter().zip(&mut results) {
            let outcome = client_rt.block_on(drive(
                target,
                settings.conns,
                settings.secs,
                settings.max_requests,
            ));
            print_row(store, &target.name, round, &outcome);
            assert_eq!(outcome.errors, 0, "{}: answers other than 200", target.name);
            results.push(outcome);
        }
    }
    println!(
        "{store}: summary over {} rounds, {} connections, {} s each (req/s of each round; worst p99)",
        settings.rounds, settings.conns, settings.secs
    );
    let rates = |outcomes: &[Outcome]| {
        outcomes
            .iter()
            .map(|o| format!("{:.0}", o.rps()))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let mean_cpu = |outcomes: &[Outcome]| {
        let cpus: Vec<f64> = outcomes
            .iter()
            .filter_map(|o| o.cpu_us_per_request)
            .collect();
        cpus.iter().sum::<f64>() / cpus.len().max(1) as f64
    };
    let worst_p99 = |outcomes: &[Outcome]| outcomes.iter().map(|o| o.p99_us).max().unwrap_or(0);
    for pair in targets.chunks(2).zip(results.chunks(2)) {
        let ([baseline, bulkhead], [base_out, bulk_out]) = pair else {
            continue;
        };
        let ratios: Vec<String> = base_out
            .iter()
            .zip(bulk_out)
            .map(|(b, o)| format!("{:.2}", o.rps() / b.rps()))
            .collect();
        println!(
            "{store:<10} {:<22} {} req/s, p99 {} µs | {:<22} {} req/s, p99 {} µs | ratio per round {} | cpu µs/req {:.1} / {:.1}",
            bulkhead.name,
            rates(bulk_out),
            worst_p99(bulk_out),
            baseline.name,
            rates(base_out),
            worst_p99(base_out),
            ratios.join(", "),
            mean_cpu(bulk_out),
            mean_cpu(base_out)
        );
    }
    server_rt.shutdown_timeout(Duration::from_secs(1));
    drop(keep);
}

fn main() {
    let settings = Settings::from_env();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let engine = Engine::open(
        &path,
        Config::default().with_master_key(MasterKey::generate().unwrap()),
    )
    .unwrap();
    measure("sqlite", engine, &settings);
    if settings.pg {
        measure("postgres", pg_engine(), &settings);
    }
}
