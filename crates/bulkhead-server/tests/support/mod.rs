//! The real server on `127.0.0.1:0` over an engine on a temporary SQLite file, with an
//! organization whose catalog has a `production` source template (with a secret field), a
//! `premium` one, and a `production` connection template; and an HTTP client.

pub(crate) mod routes;
pub(crate) mod world;

use std::collections::BTreeSet;

use axum::Router;
use bulkhead::{
    ConfigSpec, ConnectorConfig, Engine, NewConnectionTemplate, NewSourceTemplate, OrgScope,
    Schedule, Tag,
};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The seed's scoped-token body, byte for byte as its curl sends it.
pub(crate) const SEED_BODY: &str = r#"{"external_id": "customer-unique-id-123",
       "selected_source_template_tags": ["production"],
       "selected_connection_template_tags": ["production"]}"#;

/// A secret the tests put in a source; no response may ever carry it.
pub(crate) const SECRET: &str = "sk_live_never_echo_me";

pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) org_key: String,
    pub(crate) engine: Engine,
    pub(crate) http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

fn tags(names: &[&str]) -> BTreeSet<Tag> {
    names.iter().map(|n| n.parse().unwrap()).collect()
}

/// Tags, a production template with a secret, a premium one, and a production connection
/// template.
pub(crate) fn catalog(org: &OrgScope) {
    for name in ["production", "premium"] {
        org.create_tag(&name.parse().unwrap()).unwrap();
    }
    let spec = json!({
        "type": "object",
        "required": ["api_key"],
        "properties": {
            "api_key": {"type": "string", "airbyte_secret": true},
            "account": {"type": "string"}
        }
    });
    org.create_source_template(NewSourceTemplate {
        name: "Stripe".parse().unwrap(),
        connector: "stripe".parse().unwrap(),
        default_config: ConnectorConfig::new(json!({})).unwrap(),
        spec: ConfigSpec::parse(spec).unwrap(),
        tags: tags(&["production"]),
    })
    .unwrap();
    org.create_source_template(NewSourceTemplate {
        name: "Salesforce".parse().unwrap(),
        connector: "salesforce".parse().unwrap(),
        default_config: ConnectorConfig::new(json!({})).unwrap(),
        spec: ConfigSpec::empty(),
        tags: tags(&["premium"]),
    })
    .unwrap();
    org.create_connection_template(NewConnectionTemplate {
        name: "Warehouse".parse().unwrap(),
        destination_name: "Acme warehouse".parse().unwrap(),
        destination_connector: "s3".parse().unwrap(),
        destination_config: ConnectorConfig::new(json!({"bucket": "acme"})).unwrap(),
        destination_spec: ConfigSpec::empty(),
        schedule: Schedule::Cron("0 * * * *".parse().unwrap()),
        tags: tags(&["production"]),
    })
    .unwrap();
}

/// The tests' server settings: a 64 KiB body limit, so the limit test sends little.
pub(crate) fn default_config() -> bulkhead_server::ServerConfig {
    bulkhead_server::ServerConfig::default().body_limit(64 * 1024)
}

impl Server {
    pub(crate) async fn start() -> Self {
        Self::start_with(|router| router).await
    }

    /// Starts the server with `extend` applied to the router (a host's own routes).
    pub(crate) async fn start_with(extend: impl FnOnce(Router) -> Router) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bulkhead.db");
        bulkhead::MasterKey::create_file(&bulkhead::default_key_file(&path)).unwrap();
        let engine = Engine::open(&path, bulkhead::Config::default()).unwrap();
        Self::start_on(engine, Some(dir), default_config(), extend).await
    }

    /// Starts the server on a SQLite engine with `config` instead of the tests' default.
    pub(crate) async fn start_configured(config: bulkhead_server::ServerConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bulkhead.db");
        bulkhead::MasterKey::create_file(&bulkhead::default_key_file(&path)).unwrap();
        let engine = Engine::open(&path, bulkhead::Config::default()).unwrap();
        Self::start_on(engine, Some(dir), config, |router| router).await
    }

    /// Starts the server over `engine` (any store), after making the organization `Acme`
    /// and its catalog.
    pub(crate) async fn start_on(
        engine: Engine,
        dir: Option<tempfile::TempDir>,
        config: bulkhead_server::ServerConfig,
        extend: impl FnOnce(Router) -> Router,
    ) -> Self {
        // Off the async workers: the PostgreSQL store's client runs a runtime of its own.
        let setup = engine.clone();
        let org_key = tokio::task::spawn_blocking(move || {
            let (_, key) = setup.create_organization("Acme").unwrap();
            let org_key = key.expose().to_owned();
            catalog(&setup.authenticate_org(&org_key).unwrap());
            org_key
        })
        .await
        .unwrap();

        let app = extend(bulkhead_server::router(engine.clone(), config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bulkhead_server::serve(listener, app, async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            org_key,
            engine,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Asks the server to shut down gracefully; returns once it has.
    pub(crate) async fn stop(&mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap(),
            None => Ok(()),
        }
    }

    /// The organization id of `org_key`: its client id for client credentials.
    pub(crate) fn client_id(&self, org_key: &str) -> String {
        self.engine
            .authenticate_org(org_key)
            .unwrap()
            .org_id()
            .to_string()
    }

    /// An access token for the server's organization, by client credentials (JSON body).
    pub(crate) async fn access_token(&self) -> String {
        let id = self.client_id(&self.org_key);
        let res = self
            .http
            .post(self.url("/v1/applications/token"))
            .json(&json!({"client_id": id, "client_secret": self.org_key}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// `POST /v1/workspaces` under `credential`; the new workspace's id.
    pub(crate) async fn v1_workspace(&self, credential: &str, name: &str) -> String {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                "/v1/workspaces",
                credential,
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["workspaceId"].as_str().unwrap().to_owned()
    }

    /// A second organization with the same catalog; its org key.
    pub(crate) fn other_org(&self) -> String {
        let (_, key) = self.engine.create_organization("Globex").unwrap();
        let key = key.expose().to_owned();
        catalog(&self.engine.authenticate_org(&key).unwrap());
        key
    }

    /// `POST /api/v1/embedded/scoped-token` with `body` under the org key; the JSON answer.
    pub(crate) async fn issue(&self, org_key: &str, body: Value) -> Value {
        let res = self
            .http
            .post(self.url("/api/v1/embedded/scoped-token"))
            .bearer_auth(org_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// A scoped token for `external_id` with the production tags and the given operations
    /// (the default set when `None`); (token, workspace id).
    pub(crate) async fn customer(
        &self,
        external_id: &str,
        ops: Option<&[&str]>,
    ) -> (String, String) {
        let mut body = json!({
            "external_id": external_id,
            "selected_source_template_tags": ["production"],
            "selected_connection_template_tags": ["production"],
        });
        if let Some(ops) = ops {
            body["operations"] = json!(ops);
        }
        let answer = self.issue(&self.org_key, body).await;
        (
            answer["token"].as_str().unwrap().to_owned(),
            answer["workspace_id"].as_str().unwrap().to_owned(),
        )
    }

    /// Creates a source from the Stripe template with the token; the JSON answer.
    pub(crate) async fn create_source(&self, token: &str) -> Value {
        let templates: Value = self
            .send(
                reqwest::Method::GET,
                "/api/v1/embedded/source-templates",
                token,
                None,
            )
            .await
            .1;
        let template_id = templates["data"][0]["id"].as_str().unwrap().to_owned();
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                "/api/v1/embedded/sources",
                token,
                Some(json!({
                    "name": "My Stripe",
                    "source_template_id": template_id,
                    "source_config": {"api_key": SECRET, "account": "acct_1"},
                })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// `POST /api/v1/jobs/claim` with `key`; (status, body, `Value::Null` for a body that is
    /// not JSON). Sent past [`Server::send`], which refuses any answer holding the catalog's
    /// secret: a claim's answer holds it, opened for the worker.
    pub(crate) async fn claim(&self, key: &str) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/api/v1/jobs/claim"))
            .bearer_auth(key)
            .json(&serde_json::json!({"worker": "http-test"}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// GETs `path` with the server's org key, asserts a 200 and returns the JSON body.
    pub(crate) async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self
            .send(reqwest::Method::GET, path, &self.org_key, None)
            .await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Sends a request with a bearer credential and an optional JSON body; (status, JSON).
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        credential: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, _, text) = self.send_raw(method, path, credential, body).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Like [`Server::send`], with the content type and the body as text.
    pub(crate) async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        credential: &str,
        body: Option<Value>,
    ) -> (u16, String, String) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(credential);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = res.text().await.unwrap();
        assert!(
            !text.contains(SECRET),
            "a response carried the secret: {text}"
        );
        (status, content_type, text)
    }
}

/// Asserts that `text` is an RFC 9457 problem of `status`, and returns it.
pub(crate) fn problem(status: u16, content_type: &str, text: &str) -> Value {
    assert_eq!(content_type, "application/problem+json", "{text}");
    let body: Value = serde_json::from_str(text).unwrap();
    assert_eq!(body["status"], status, "{text}");
    assert!(body["type"].is_string(), "{text}");
    assert!(body["title"].is_string(), "{text}");
    body
}
