//! A populated server for the property and isolation tests: two organizations, each with its
//! catalog (source and connection templates, tags, one tag only it has) and several
//! workspaces (a scoped token each), each workspace with sources made from the `production`
//! template (which makes a destination and a connection per source) and a running job (sync
//! run) per connection, and every credential kind: org key, access token, scoped token.

use reqwest::Method;
use serde_json::{Value, json};

use super::Server;

/// Every operation a scoped token can grant: the world's tokens hold them all, so that a
/// refusal is about the object, never about the operation.
pub(crate) const EVERY_OPERATION: [&str; 16] = [
    "workspace:read",
    "templates:read",
    "sources:read",
    "sources:create",
    "sources:update",
    "sources:delete",
    "destinations:read",
    "destinations:create",
    "destinations:update",
    "destinations:delete",
    "connections:read",
    "connections:create",
    "connections:update",
    "connections:delete",
    "syncs:read",
    "syncs:trigger",
];

/// One workspace and what it holds.
#[derive(Clone, Debug)]
pub(crate) struct Tenant {
    pub(crate) token: String,
    pub(crate) workspace_id: String,
    pub(crate) external_id: String,
    pub(crate) sources: Vec<String>,
    pub(crate) destinations: Vec<String>,
    pub(crate) connections: Vec<String>,
    /// The v1 job ids (integers, as text) of its running syncs, one per connection.
    pub(crate) jobs: Vec<String>,
}

impl Tenant {
    /// Every id and the external id of this workspace.
    pub(crate) fn marks(&self) -> Vec<String> {
        let mut out = vec![self.workspace_id.clone(), self.external_id.clone()];
        out.extend(self.sources.iter().cloned());
        out.extend(self.destinations.iter().cloned());
        out.extend(self.connections.iter().cloned());
        out.extend(self.jobs.iter().cloned());
        out
    }
}

/// One organization, its credentials and its workspaces.
#[derive(Clone, Debug)]
pub(crate) struct Org {
    pub(crate) key: String,
    pub(crate) access: String,
    pub(crate) org_id: String,
    pub(crate) tenants: Vec<Tenant>,
    pub(crate) source_templates: Vec<String>,
    pub(crate) connection_templates: Vec<String>,
    /// Its tags' names, [`Org::own_tag`] among them.
    pub(crate) tags: Vec<String>,
    /// A tag name no other organization has (`org<n>-only`).
    pub(crate) own_tag: String,
    /// Its access keys' ids.
    pub(crate) org_keys: Vec<String>,
    /// Its signing keys' `kid`s.
    pub(crate) signing_keys: Vec<String>,
}

impl Org {
    /// Its template ids (tags are names, shared between organizations, so not marks).
    pub(crate) fn marks(&self) -> Vec<String> {
        let mut out = self.source_templates.clone();
        out.extend(self.connection_templates.iter().cloned());
        out.extend(self.org_keys.iter().cloned());
        out.extend(self.signing_keys.iter().cloned());
        out
    }
}

/// Two organizations: the server's own (`Acme`) and `Globex`.
#[derive(Clone, Debug)]
pub(crate) struct World {
    pub(crate) orgs: Vec<Org>,
}

impl World {
    /// Populates `server`: `workspaces` workspaces per organization, `sources` sources each.
    /// External ids are `<org>-cust-<n>`, unique across the world, so a body carrying
    /// another tenant's external id is caught.
    pub(crate) async fn build(server: &Server, workspaces: usize, sources: usize) -> Self {
        let engine = server.engine.clone();
        let acme = server.org_key.clone();
        // Off the async workers: the PostgreSQL store's client runs a runtime of its own.
        let (globex, ids) = tokio::task::spawn_blocking(move || {
            let (_, key) = engine.create_organization("Globex").unwrap();
            let key = key.expose().to_owned();
            super::catalog(&engine.authenticate_org(&key).unwrap());
            let ids: Vec<String> = [&acme, &key]
                .iter()
                .map(|k| engine.authenticate_org(k).unwrap().org_id().to_string())
                .collect();
            (key, ids)
        })
        .await
        .unwrap();
        let mut orgs = Vec::new();
        for (n, (key, org_id)) in [server.org_key.clone(), globex]
            .into_iter()
            .zip(ids)
            .enumerate()
        {
            let access = access_token(server, &org_id, &key).await;
            let own_tag = format!("org{n}-only");
            let (status, body) = server
                .send(
                    Method::POST,
                    &format!("{TEMPLATES}/tags"),
                    &key,
                    Some(json!({"name": own_tag})),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            let mut tenants = Vec::new();
            for w in 0..workspaces {
                let external_id = format!("org{n}-cust-{w}");
                tenants.push(tenant(server, &key, &external_id, sources).await);
            }
            orgs.push(Org {
                source_templates: catalog(server, &key, "sources", "id").await,
                connection_templates: catalog(server, &key, "connections", "id").await,
                tags: catalog(server, &key, "tags", "name").await,
                org_keys: list_field(server, &key, "/api/v1/organization/keys", "id").await,
                signing_keys: list_field(server, &key, "/api/v1/organization/signing-keys", "kid")
                    .await,
                own_tag,
                key,
                access,
                org_id,
                tenants,
            });
        }
        Self { orgs }
    }

    /// Every credential of the world: org keys, access tokens, scoped tokens.
    pub(crate) fn credentials(&self) -> Vec<String> {
        let mut out = Vec::new();
        for org in &self.orgs {
            out.push(org.key.clone());
            out.push(org.access.clone());
            out.extend(org.tenants.iter().map(|t| t.token.clone()));
        }
        out
    }
}

/// Where the organization's catalog is managed.
pub(crate) const TEMPLATES: &str = "/api/v1/integrations/templates";

/// The `field` of each item of the organization's catalog list `what` under `key`.
pub(crate) async fn catalog(server: &Server, key: &str, what: &str, field: &str) -> Vec<String> {
    list_field(server, key, &format!("{TEMPLATES}/{what}"), field).await
}

/// The `field` of every item of the `{data: [...]}` list at `path`.
async fn list_field(server: &Server, key: &str, path: &str, field: &str) -> Vec<String> {
    let (status, body) = server.send(Method::GET, path, key, None).await;
    assert_eq!(status, 200, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

/// Starts a sync of `connection` under `key` (`POST /v1/jobs`); its job id.
async fn start_job(server: &Server, key: &str, connection: &str) -> String {
    let (status, body) = server
        .send(
            Method::POST,
            "/v1/jobs",
            key,
            Some(json!({"connectionId": connection, "jobType": "sync"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["jobId"].as_u64().unwrap().to_string()
}

async fn access_token(server: &Server, client_id: &str, key: &str) -> String {
    let res = server
        .http
        .post(server.url("/v1/applications/token"))
        .json(&json!({"client_id": client_id, "client_secret": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// The ids a v1 list under `key` gives for `workspace`, by `field`.
async fn listed(
    server: &Server,
    key: &str,
    plural: &str,
    field: &str,
    workspace: &str,
) -> Vec<String> {
    let (status, body) = server
        .send(
            Method::GET,
            &format!("/v1/{plural}?workspaceIds={workspace}&limit=100"),
            key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

async fn tenant(server: &Server, key: &str, external_id: &str, sources: usize) -> Tenant {
    let issued = server
        .issue(
            key,
            json!({
                "external_id": external_id,
                "selected_source_template_tags": ["production"],
                "selected_connection_template_tags": ["production"],
                "operations": EVERY_OPERATION,
            }),
        )
        .await;
    let token = issued["token"].as_str().unwrap().to_owned();
    let workspace_id = issued["workspace_id"].as_str().unwrap().to_owned();
    for _ in 0..sources {
        server.create_source(&token).await;
    }
    let connections = listed(server, key, "connections", "connectionId", &workspace_id).await;
    let mut jobs = Vec::new();
    for connection in &connections {
        jobs.push(start_job(server, key, connection).await);
    }
    Tenant {
        sources: listed(server, key, "sources", "sourceId", &workspace_id).await,
        destinations: listed(server, key, "destinations", "destinationId", &workspace_id).await,
        connections,
        jobs,
        token,
        workspace_id,
        external_id: external_id.to_owned(),
    }
}
