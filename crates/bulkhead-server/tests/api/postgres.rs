//! The HTTP API over the PostgreSQL store (Row Level Security): the seed's curl, the scoped
//! routes, and cross-tenant ids answered like missing ones. The server is the test process's
//! throw-away PostgreSQL (`bulkhead_testkit::pg`), each run in a schema of its own.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::support;

use bulkhead::postgres::{PgOptions, Roles, provision};
use bulkhead::{Config, Engine, MasterKey};
use bulkhead_testkit::pg::PgServer;
use postgres::{Client, NoTls};
use reqwest::Method;
use serde_json::{Value, json};
use support::{SEED_BODY, Server, problem};

const OWNER: &str = "bulkhead_owner";
const APP: &str = "bulkhead_app";

/// An engine on a new schema of the process's PostgreSQL server, as the restricted role.
fn pg_engine() -> (Engine, String) {
    let server = PgServer::shared();
    // Once per process: the tests run in parallel, and two concurrent provisionings of the
    // same roles collide in PostgreSQL's catalog.
    static PROVISIONED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    PROVISIONED.get_or_init(|| {
        provision(
            server.admin_url(),
            &Roles {
                schema: "bulkhead".to_owned(),
                owner: OWNER.to_owned(),
                app: APP.to_owned(),
            },
        )
        .unwrap();
    });
    let schema = format!(
        "bhs_{}_{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    let mut admin = Client::connect(server.admin_url(), NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema} AUTHORIZATION {OWNER}"))
        .unwrap();
    let mut config = Config::default().with_master_key(MasterKey::generate().unwrap());
    config.postgres = PgOptions {
        schema: schema.clone(),
        owner_url: Some(server.url_for(OWNER)),
        pool_size: 4,
        ..PgOptions::default()
    };
    let engine = Engine::connect_postgres(&server.url_for(APP), config).unwrap();
    (engine, schema)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_api_on_postgres_keeps_tenants_apart() {
    let (engine, schema) = tokio::task::spawn_blocking(pg_engine).await.unwrap();
    let server = Server::start_on(engine, None, support::default_config(), |router| router).await;

    // The seed's curl, verbatim.
    let res = server
        .http
        .post(server.url("/api/v1/embedded/scoped-token"))
        .header("Authorization", format!("Bearer {}", server.org_key))
        .header("Content-Type", "application/json")
        .body(SEED_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let issued: Value = res.json().await.unwrap();
    let seed_token = issued["token"].as_str().unwrap().to_owned();

    let created = server.create_source(&seed_token).await;
    assert_eq!(created["workspace_id"], issued["workspace_id"]);
    assert_eq!(created["source_config"]["api_key"], bulkhead::SECRET_MASK);
    assert_eq!(created["connections"].as_array().unwrap().len(), 1);
    let source_path = format!(
        "/api/v1/embedded/sources/{}",
        created["id"].as_str().unwrap()
    );
    let (status, page) = server
        .send(Method::GET, "/api/v1/embedded/sources", &seed_token, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);

    // Another customer: the first one's source is 404, byte for byte like a random id.
    let (other, _) = server.customer("another-customer", None).await;
    let foreign = server
        .send_raw(Method::GET, &source_path, &other, None)
        .await;
    let random = server
        .send_raw(
            Method::GET,
            &format!("/api/v1/embedded/sources/{}", uuid::Uuid::new_v4()),
            &other,
            None,
        )
        .await;
    assert_eq!(foreign.0, 404);
    problem(404, &foreign.1, &foreign.2);
    assert_eq!(foreign, random);
    let (_, theirs) = server
        .send(Method::GET, "/api/v1/embedded/sources", &other, None)
        .await;
    assert_eq!(theirs["data"], json!([]));

    // The organization sees both workspaces; a scoped token is refused there.
    let listed = server.get_ok("/api/v1/workspaces").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    let (status, ct, text) = server
        .send_raw(Method::GET, "/api/v1/workspaces", &seed_token, None)
        .await;
    assert_eq!(status, 401);
    problem(401, &ct, &text);

    tokio::task::spawn_blocking(move || {
        let mut admin = Client::connect(PgServer::shared().admin_url(), NoTls).unwrap();
        let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    })
    .await
    .unwrap();
}

/// The organization's catalog and workspace routes on PostgreSQL: the name filter runs in
/// its query, templates and tags are made and retagged, and another organization's ids are
/// 404 like missing ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_and_workspace_routes_on_postgres() {
    let (engine, schema) = tokio::task::spawn_blocking(pg_engine).await.unwrap();
    let server = Server::start_on(engine, None, support::default_config(), |router| router).await;
    let key = server.org_key.clone();
    let (_, first) = server.customer("c1", None).await;
    server.customer("c2", None).await;
    let (status, renamed) = server
        .send(
            Method::PATCH,
            &format!("/api/v1/workspaces/{first}"),
            &key,
            Some(json!({"name": "Acme CORP", "status": "inactive"})),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    let (status, page) = server
        .send(
            Method::GET,
            "/api/v1/workspaces?name_contains=corp&status=inactive",
            &key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["id"], first.as_str());
    let (_, stats) = server
        .send(Method::GET, "/api/v1/workspaces/stats", &key, None)
        .await;
    assert_eq!(
        stats,
        json!({"active_count": 1, "inactive_count": 1, "total_count": 2})
    );

    let t = "/api/v1/integrations/templates";
    let (status, tag) = server
        .send(
            Method::POST,
            &format!("{t}/tags"),
            &key,
            Some(json!({"name": "gold"})),
        )
        .await;
    assert_eq!(status, 200, "{tag}");
    let (status, made) = server
        .send(
            Method::POST,
            &format!("{t}/sources"),
            &key,
            Some(json!({"connector_name": "hubspot", "tags": ["production"]})),
        )
        .await;
    assert_eq!(status, 200, "{made}");
    let path = format!("{t}/sources/{}", made["id"].as_str().unwrap());
    let (status, tagged) = server
        .send(
            Method::POST,
            &format!("{path}/tags"),
            &key,
            Some(json!({"tag": "gold"})),
        )
        .await;
    assert_eq!(status, 200, "{tagged}");
    assert_eq!(tagged["tags"], json!(["gold", "production"]));
    let (_, gold) = server
        .send(Method::GET, &format!("{t}/sources?tags=gold"), &key, None)
        .await;
    assert_eq!(gold["data"].as_array().unwrap().len(), 1);

    // Off the async workers: the PostgreSQL store's client runs a runtime of its own.
    let engine = server.engine.clone();
    let globex = tokio::task::spawn_blocking(move || {
        let (_, key) = engine.create_organization("Globex").unwrap();
        key.expose().to_owned()
    })
    .await
    .unwrap();
    for foreign_path in [path.clone(), format!("/api/v1/workspaces/{first}")] {
        let random = format!(
            "{}/{}",
            foreign_path.rsplit_once('/').unwrap().0,
            uuid::Uuid::new_v4()
        );
        let foreign = server
            .send_raw(Method::GET, &foreign_path, &globex, None)
            .await;
        let missing = server.send_raw(Method::GET, &random, &globex, None).await;
        assert_eq!(foreign.0, 404, "{foreign_path}");
        problem(404, &foreign.1, &foreign.2);
        assert_eq!(foreign, missing);
    }

    tokio::task::spawn_blocking(move || {
        let mut admin = Client::connect(PgServer::shared().admin_url(), NoTls).unwrap();
        let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    })
    .await
    .unwrap();
}

/// A host's axum app may drop its state, and with it the last handle on a PostgreSQL engine,
/// on an async worker (its server stopped): the store's clients, each with a small runtime of
/// its own, must not panic there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_handle_on_a_postgres_engine_may_drop_on_an_async_worker() {
    let (engine, schema) = tokio::task::spawn_blocking(pg_engine).await.unwrap();
    let router = bulkhead_server::router(engine, support::default_config());
    tokio::spawn(async move { drop(router) })
        .await
        .expect("dropping the router on an async worker panicked");
    tokio::task::spawn_blocking(move || {
        let mut admin = Client::connect(PgServer::shared().admin_url(), NoTls).unwrap();
        let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    })
    .await
    .unwrap();
}
