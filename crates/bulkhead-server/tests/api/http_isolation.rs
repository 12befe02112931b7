//! The conformance suite's cross-tenant properties replayed through the HTTP API, on SQLite
//! and on PostgreSQL: two organizations, each with templates and tags, two workspaces each,
//! each with sources, a destination, connections and a running job per connection
//! (`support::world`), and every credential kind (org key, access token, scoped token).
//!
//! - every route and method that takes an id (`support::routes`), given another tenant's id
//!   (another workspace's, another organization's), answers exactly the bytes it answers for
//!   a random id: a 404 where the credential is one the route takes, with no id in the body;
//! - an id inside a request (a connection's source or destination, a source's workspace, a
//!   template, a `workspaceIds` filter, a cursor) is resolved inside the caller's tenant: a
//!   foreign one answers like a random one;
//! - the organization's templates and tags, given another organization's template id or tag
//!   name, answer exactly as for a missing one;
//! - lists show every object the caller reaches and nothing else;
//! - no answer ever carries a foreign id, a foreign external id, a foreign organization id or
//!   a secret; and after it all, every object is still there and unchanged (a foreign DELETE
//!   deleted nothing, a foreign PATCH or PUT renamed nothing, a foreign cancel left the job
//!   running, a foreign tag removal left the template's tags).
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
use support::routes::{self, Auth, Object};
use support::world::{Org, TEMPLATES, Tenant, World};
use support::{SECRET, Server};

/// Who is asking: a credential, and what it reaches.
#[derive(Clone, Debug)]
struct Caller {
    name: String,
    credential: String,
    /// The organization's index in the world.
    org: usize,
    /// For a scoped token, its workspace's index in the organization.
    workspace: Option<usize>,
}

impl Caller {
    fn is_scoped(&self) -> bool {
        self.workspace.is_some()
    }

    /// Whether `route` takes this kind of credential.
    fn accepted_by(&self, auth: Auth) -> bool {
        match auth {
            Auth::None | Auth::Any => true,
            Auth::Org | Auth::Worker => !self.is_scoped(),
            Auth::Scoped => self.is_scoped(),
        }
    }

    /// Whether the tenant at (`org`, `ws`) is within reach.
    fn reaches(&self, org: usize, ws: usize) -> bool {
        org == self.org && self.workspace.is_none_or(|mine| mine == ws)
    }
}

fn callers(world: &World) -> Vec<Caller> {
    let mut out = Vec::new();
    for (o, org) in world.orgs.iter().enumerate() {
        out.push(Caller {
            name: format!("org{o} key"),
            credential: org.key.clone(),
            org: o,
            workspace: None,
        });
        out.push(Caller {
            name: format!("org{o} access token"),
            credential: org.access.clone(),
            org: o,
            workspace: None,
        });
        for (w, t) in org.tenants.iter().enumerate() {
            out.push(Caller {
                name: format!("org{o} ws{w} scoped token"),
                credential: t.token.clone(),
                org: o,
                workspace: Some(w),
            });
        }
    }
    out
}

/// The tenants `caller` does not reach.
fn foreign<'w>(world: &'w World, caller: &Caller) -> Vec<&'w Tenant> {
    let mut out = Vec::new();
    for (o, org) in world.orgs.iter().enumerate() {
        for (w, t) in org.tenants.iter().enumerate() {
            if !caller.reaches(o, w) {
                out.push(t);
            }
        }
    }
    out
}

/// The tenants `caller` reaches.
fn own<'w>(world: &'w World, caller: &Caller) -> Vec<&'w Tenant> {
    let mut out = Vec::new();
    for (o, org) in world.orgs.iter().enumerate() {
        for (w, t) in org.tenants.iter().enumerate() {
            if caller.reaches(o, w) {
                out.push(t);
            }
        }
    }
    out
}

/// What must never appear in an answer to `caller`.
fn marks(world: &World, caller: &Caller) -> Vec<String> {
    let mut out: Vec<String> = foreign(world, caller)
        .iter()
        .flat_map(|t| t.marks())
        .collect();
    for (o, org) in world.orgs.iter().enumerate() {
        if o != caller.org {
            out.push(org.org_id.clone());
            out.extend(org.marks());
        }
    }
    out.push(SECRET.to_owned());
    out
}

fn ids_of(tenant: &Tenant, object: Object) -> Vec<String> {
    match object {
        Object::None => Vec::new(),
        Object::Workspace => vec![tenant.workspace_id.clone()],
        Object::Source => tenant.sources.clone(),
        Object::Destination => tenant.destinations.clone(),
        Object::Connection => tenant.connections.clone(),
        Object::Job => tenant.jobs.clone(),
        // The organization's: see `org_ids_of`.
        Object::SourceTemplate
        | Object::ConnectionTemplate
        | Object::Tag
        | Object::OrgKey
        | Object::SigningKey => Vec::new(),
    }
}

/// The ids of an organization's objects of `object`: for tags, the one name only it has.
fn org_ids_of(org: &Org, object: Object) -> Vec<String> {
    match object {
        Object::SourceTemplate => org.source_templates.clone(),
        Object::ConnectionTemplate => org.connection_templates.clone(),
        Object::Tag => vec![org.own_tag.clone()],
        Object::OrgKey => org.org_keys.clone(),
        Object::SigningKey => org.signing_keys.clone(),
        _ => Vec::new(),
    }
}

/// The organizations whose catalog `caller` does not reach: the others, and for a scoped
/// token its own too (the catalog routes take no scoped token).
fn foreign_orgs<'w>(world: &'w World, caller: &Caller) -> Vec<&'w Org> {
    world
        .orgs
        .iter()
        .enumerate()
        .filter(|(o, _)| *o != caller.org || caller.is_scoped())
        .map(|(_, org)| org)
        .collect()
}

/// The ids of `object` that `caller` does not reach.
fn foreign_ids(world: &World, caller: &Caller, object: Object) -> Vec<String> {
    if object.org_level() {
        foreign_orgs(world, caller)
            .into_iter()
            .flat_map(|org| org_ids_of(org, object))
            .collect()
    } else {
        foreign(world, caller)
            .into_iter()
            .flat_map(|t| ids_of(t, object))
            .collect()
    }
}

/// An answer as compared: status, content type, body.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

struct Replay<'a> {
    server: &'a Server,
    world: &'a World,
    requests: usize,
}

impl Replay<'_> {
    /// Sends a request as `caller` and checks the answer carries nothing foreign to it.
    async fn send(
        &mut self,
        caller: &Caller,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Answer {
        let method: Method = method.parse().unwrap();
        let mut req = self
            .server
            .http
            .request(method.clone(), self.server.url(path))
            .bearer_auth(&caller.credential);
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().await.unwrap();
        self.requests += 1;
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = res.text().await.unwrap();
        assert!(
            status < 500,
            "{method} {path} as {}: {status} {body}",
            caller.name
        );
        for mark in marks(self.world, caller) {
            assert!(
                !body.contains(&mark),
                "{method} {path} as {} leaked {mark}: {body}",
                caller.name
            );
        }
        Answer {
            status,
            content_type,
            body,
        }
    }

    /// `path_of(foreign)` and `path_of(random)`, same method and body: the same answer.
    async fn same_as_random(
        &mut self,
        caller: &Caller,
        method: &str,
        foreign_path: &str,
        random_path: &str,
        foreign_body: Option<&Value>,
        random_body: Option<&Value>,
    ) -> Answer {
        let theirs = self.send(caller, method, foreign_path, foreign_body).await;
        let random = self.send(caller, method, random_path, random_body).await;
        assert_eq!(
            theirs, random,
            "{method} {foreign_path} as {} differs from a random id",
            caller.name
        );
        theirs
    }
}

fn random_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An id of `object` that names nothing: a random uuid, job number (1 to 2^53 - 1) or tag
/// name.
fn random_id_of(object: Object) -> String {
    let n = uuid::Uuid::new_v4().as_u128();
    match object {
        Object::Job => ((n % ((1u128 << 53) - 1)) + 1).to_string(),
        Object::Tag => format!("missing-{}", uuid::Uuid::new_v4().simple()),
        _ => random_id(),
    }
}

/// A body that is valid for `method` on an object of `object`, so that only the id decides.
fn valid_body(method: &str, object: Object, path: &str) -> Option<Value> {
    let embedded = path.starts_with("/api/v1/embedded/");
    match (method, object) {
        ("PATCH", _) => Some(json!({"name": "renamed"})),
        ("PUT", _) if embedded => Some(json!({"name": "renamed"})),
        // A foreign deactivation too: the workspace must stay active.
        ("PUT", Object::Workspace) => Some(json!({"name": "renamed", "status": "inactive"})),
        ("PUT", Object::Tag) => Some(json!({"name": "renamed"})),
        // The duplicate is another workspace of the caller's own reach or not: either way
        // a foreign target is not found.
        ("POST", Object::Workspace) if path.ends_with("/merge") => {
            Some(json!({"from_external_id": "no-such-customer"}))
        }
        ("POST", Object::SourceTemplate | Object::ConnectionTemplate) => {
            Some(json!({"tag": routes::TAG}))
        }
        ("PUT", Object::Source) => {
            Some(json!({"name": "renamed", "configuration": {"api_key": "k", "account": "a"}}))
        }
        ("PUT", Object::Destination) => {
            Some(json!({"name": "renamed", "configuration": {"bucket": "b"}}))
        }
        _ => None,
    }
}

/// Source template ids a scoped token sees.
async fn templates(server: &Server, token: &str) -> Vec<String> {
    let (status, body) = server
        .send(
            Method::GET,
            "/api/v1/embedded/source-templates",
            token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn replay(server: &Server) {
    let world = World::build(server, 2, 2).await;
    let callers = callers(&world);
    let mut replay = Replay {
        server,
        world: &world,
        requests: 0,
    };

    // 1. Every route and method that takes an id.
    for (route, path) in routes::all() {
        if route.object == Object::None {
            continue;
        }
        let body = valid_body(route.method, route.object, &path);
        for caller in &callers {
            let ids = foreign_ids(&world, caller, route.object);
            assert!(!ids.is_empty(), "{} {path}: nothing foreign", route.method);
            for id in ids {
                let answer = replay
                    .same_as_random(
                        caller,
                        route.method,
                        &routes::Route::with_id(&path, &id),
                        &routes::Route::with_id(&path, &random_id_of(route.object)),
                        body.as_ref(),
                        body.as_ref(),
                    )
                    .await;
                let expected = if caller.accepted_by(route.auth) {
                    404
                } else {
                    401
                };
                assert_eq!(
                    answer.status, expected,
                    "{} {path} as {}: {}",
                    route.method, caller.name, answer.body
                );
                support::problem(expected, &answer.content_type, &answer.body);
            }
        }
    }

    // 2. Ids inside requests, resolved inside the caller's tenant.
    let own_templates: Vec<Vec<String>> = {
        let mut out = Vec::new();
        for org in &world.orgs {
            out.push(templates(server, &org.tenants[0].token).await);
        }
        out
    };
    for caller in &callers {
        let mine = own(&world, caller);
        let home = mine[0];
        for tenant in foreign(&world, caller) {
            for prefix in routes::V1_PREFIXES {
                // A connection between a foreign source or destination and one of the caller's.
                let path = format!("{prefix}/connections");
                for (theirs, random) in [
                    (
                        json!({"sourceId": tenant.sources[0], "destinationId": home.destinations[0]}),
                        json!({"sourceId": random_id(), "destinationId": home.destinations[0]}),
                    ),
                    (
                        json!({"sourceId": home.sources[0], "destinationId": tenant.destinations[0]}),
                        json!({"sourceId": home.sources[0], "destinationId": random_id()}),
                    ),
                ] {
                    let answer = replay
                        .same_as_random(caller, "POST", &path, &path, Some(&theirs), Some(&random))
                        .await;
                    assert_eq!(
                        answer.status, 404,
                        "{path} as {}: {}",
                        caller.name, answer.body
                    );
                }
                // A source or destination in a foreign workspace.
                for (plural, config) in [
                    ("sources", json!({"api_key": "k"})),
                    ("destinations", json!({"bucket": "b"})),
                ] {
                    let path = format!("{prefix}/{plural}");
                    let body =
                        |ws: &str| json!({"name": "x", "workspaceId": ws, "configuration": config});
                    let answer = replay
                        .same_as_random(
                            caller,
                            "POST",
                            &path,
                            &path,
                            Some(&body(&tenant.workspace_id)),
                            Some(&body(&random_id())),
                        )
                        .await;
                    assert!(
                        answer.status >= 400,
                        "{path} as {}: {}",
                        caller.name,
                        answer.body
                    );
                }
                // A job started on a foreign connection, and the jobs of one listed.
                let path = format!("{prefix}/jobs");
                let job = |c: &str| json!({"connectionId": c, "jobType": "sync"});
                let answer = replay
                    .same_as_random(
                        caller,
                        "POST",
                        &path,
                        &path,
                        Some(&job(&tenant.connections[0])),
                        Some(&job(&random_id())),
                    )
                    .await;
                assert_eq!(
                    answer.status, 404,
                    "{path} as {}: {}",
                    caller.name, answer.body
                );
                let path = |c: &str| format!("{prefix}/jobs?connectionId={c}");
                let answer = replay
                    .same_as_random(
                        caller,
                        "GET",
                        &path(&tenant.connections[0]),
                        &path(&random_id()),
                        None,
                        None,
                    )
                    .await;
                assert_eq!(answer.status, 200, "{}", answer.body);
                let page: Value = serde_json::from_str(&answer.body).unwrap();
                assert_eq!(page["data"], json!([]), "jobs as {}", caller.name);
                // A `workspaceIds` filter naming a foreign workspace.
                for plural in [
                    "workspaces",
                    "sources",
                    "destinations",
                    "connections",
                    "jobs",
                ] {
                    let path = |ws: &str| format!("{prefix}/{plural}?workspaceIds={ws}");
                    let answer = replay
                        .same_as_random(
                            caller,
                            "GET",
                            &path(&tenant.workspace_id),
                            &path(&random_id()),
                            None,
                            None,
                        )
                        .await;
                    // Refused, or an empty page: nothing of the foreign workspace either way.
                    if answer.status == 200 {
                        let page: Value = serde_json::from_str(&answer.body).unwrap();
                        assert_eq!(page["data"], json!([]), "{plural} as {}", caller.name);
                    }
                }
            }
            // The embedded routes' `workspace_id` naming a foreign workspace.
            let path = |ws: &str| format!("/api/v1/embedded/sources?workspace_id={ws}");
            replay
                .same_as_random(
                    caller,
                    "GET",
                    &path(&tenant.workspace_id),
                    &path(&random_id()),
                    None,
                    None,
                )
                .await;
        }
        // A template of another organization, or of the caller's own not selected for the
        // workspace (the `premium` one), is not available: like a random id.
        if caller.is_scoped() {
            let other_org = 1 - caller.org;
            let create = |template: &str| {
                json!({
                    "name": "x",
                    "source_template_id": template,
                    "source_config": {"api_key": "k"},
                })
            };
            for template in &own_templates[other_org] {
                let path = "/api/v1/embedded/sources";
                let answer = replay
                    .same_as_random(
                        caller,
                        "POST",
                        path,
                        path,
                        Some(&create(template)),
                        Some(&create(&random_id())),
                    )
                    .await;
                // The engine refuses any template the workspace cannot use (a random id
                // included) as "not available": one answer for all, no oracle.
                assert!(
                    matches!(answer.status, 403 | 404),
                    "{}: {}",
                    caller.name,
                    answer.body
                );
            }
            let premium: Vec<String> = {
                let org = &world.orgs[caller.org];
                let engine = server.engine.clone();
                let key = org.key.clone();
                tokio::task::spawn_blocking(move || {
                    engine
                        .authenticate_org(&key)
                        .unwrap()
                        .list_source_templates(None)
                        .unwrap()
                        .into_iter()
                        .filter(|t| t.tags.iter().any(|tag| tag.as_str() == "premium"))
                        .map(|t| t.id.to_string())
                        .collect()
                })
                .await
                .unwrap()
            };
            assert!(!premium.is_empty());
            for template in &premium {
                let path = "/api/v1/embedded/sources";
                let answer = replay
                    .same_as_random(
                        caller,
                        "POST",
                        path,
                        path,
                        Some(&create(template)),
                        Some(&create(&random_id())),
                    )
                    .await;
                // The engine refuses any template the workspace cannot use (a random id
                // included) as "not available": one answer for all, no oracle.
                assert!(
                    matches!(answer.status, 403 | 404),
                    "{}: {}",
                    caller.name,
                    answer.body
                );
            }
        }
    }

    // 3. A cursor of another workspace never widens a listing.
    let first = &world.orgs[0].tenants[0];
    let (status, page) = server
        .send(
            Method::GET,
            "/api/v1/embedded/sources?limit=1",
            &first.token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    if let Some(next) = page["next"].as_str() {
        let cursor_query = next.split_once('?').map(|(_, q)| q.to_owned()).unwrap();
        for caller in callers.iter().filter(|c| c.is_scoped() && !c.reaches(0, 0)) {
            replay
                .send(
                    caller,
                    "GET",
                    &format!("/api/v1/embedded/sources?{cursor_query}"),
                    None,
                )
                .await;
        }
    }

    // 4. Lists: everything the caller reaches, and nothing else (the leak check is in `send`).
    for caller in &callers {
        let mine = own(&world, caller);
        let mut lists: Vec<(String, Object, &str)> = Vec::new();
        for prefix in routes::V1_PREFIXES {
            for (plural, object, field) in [
                ("workspaces", Object::Workspace, "workspaceId"),
                ("sources", Object::Source, "sourceId"),
                ("destinations", Object::Destination, "destinationId"),
                ("connections", Object::Connection, "connectionId"),
                ("jobs", Object::Job, "jobId"),
            ] {
                if plural == "workspaces" && caller.is_scoped() {
                    continue;
                }
                lists.push((format!("{prefix}/{plural}?limit=100"), object, field));
            }
        }
        if caller.is_scoped() {
            lists.push((
                "/api/v1/embedded/sources?limit=100".to_owned(),
                Object::Source,
                "id",
            ));
        } else {
            lists.push((
                "/api/v1/workspaces?limit=100".to_owned(),
                Object::Workspace,
                "id",
            ));
            lists.push((
                "/api/v1/workspaces/overview?limit=100".to_owned(),
                Object::Workspace,
                "workspace_id",
            ));
            lists.push((format!("{TEMPLATES}/sources"), Object::SourceTemplate, "id"));
            lists.push((
                format!("{TEMPLATES}/connections"),
                Object::ConnectionTemplate,
                "id",
            ));
            lists.push((format!("{TEMPLATES}/tags"), Object::Tag, "name"));
        }
        for (path, object, field) in lists {
            let answer = replay.send(caller, "GET", &path, None).await;
            assert_eq!(
                answer.status, 200,
                "{path} as {}: {}",
                caller.name, answer.body
            );
            let listed: Value = serde_json::from_str(&answer.body).unwrap();
            let mut got: Vec<String> = listed["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| match &item[field] {
                    // A job id is an integer.
                    Value::Number(n) => n.to_string(),
                    other => other.as_str().unwrap().to_owned(),
                })
                .collect();
            let mut want: Vec<String> = if object.org_level() {
                let org = &world.orgs[caller.org];
                match object {
                    Object::Tag => org.tags.clone(),
                    _ => org_ids_of(org, object),
                }
            } else {
                mine.iter().flat_map(|t| ids_of(t, object)).collect()
            };
            got.sort();
            want.sort();
            assert_eq!(got, want, "{path} as {}", caller.name);
        }
        if !caller.is_scoped() {
            // The counts are the organization's own.
            let answer = replay
                .send(caller, "GET", "/api/v1/workspaces/stats", None)
                .await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            let stats: Value = serde_json::from_str(&answer.body).unwrap();
            assert_eq!(
                stats["total_count"],
                world.orgs[caller.org].tenants.len(),
                "{}",
                answer.body
            );
        }
    }

    // 5. Nothing was deleted or changed by a foreign request.
    for (o, org) in world.orgs.iter().enumerate() {
        for tenant in &org.tenants {
            for (object, plural) in [
                (Object::Workspace, "workspaces"),
                (Object::Source, "sources"),
                (Object::Destination, "destinations"),
                (Object::Connection, "connections"),
            ] {
                for id in ids_of(tenant, object) {
                    let (status, body) = server
                        .send(Method::GET, &format!("/v1/{plural}/{id}"), &org.key, None)
                        .await;
                    assert_eq!(status, 200, "org{o} lost {plural}/{id}: {body}");
                    assert_ne!(
                        body["name"], "renamed",
                        "org{o}'s {plural}/{id} was renamed"
                    );
                }
            }
            let (status, body) = server
                .send(
                    Method::GET,
                    &format!("/api/v1/workspaces/{}", tenant.workspace_id),
                    &org.key,
                    None,
                )
                .await;
            assert_eq!(status, 200, "org{o} lost a workspace: {body}");
            assert_eq!(body["status"], "active", "{body}");
            for job in &tenant.jobs {
                let (status, body) = server
                    .send(Method::GET, &format!("/v1/jobs/{job}"), &org.key, None)
                    .await;
                assert_eq!(status, 200, "org{o} lost jobs/{job}: {body}");
                assert_eq!(body["status"], "pending", "org{o}'s job {job}: {body}");
            }
        }
        for (object, plural) in [
            (Object::SourceTemplate, "sources"),
            (Object::ConnectionTemplate, "connections"),
        ] {
            for id in org_ids_of(org, object) {
                let (status, body) = server
                    .send(
                        Method::GET,
                        &format!("{TEMPLATES}/{plural}/{id}"),
                        &org.key,
                        None,
                    )
                    .await;
                assert_eq!(status, 200, "org{o} lost template {plural}/{id}: {body}");
                assert_ne!(
                    body["name"], "renamed",
                    "org{o}'s template {id} was renamed"
                );
            }
        }
        // One source template (Stripe) and one connection template (Warehouse) carry the
        // tag the foreign tag removals named.
        for plural in ["sources", "connections"] {
            let (status, body) = server
                .send(
                    Method::GET,
                    &format!("{TEMPLATES}/{plural}"),
                    &org.key,
                    None,
                )
                .await;
            assert_eq!(status, 200, "{body}");
            let carrying = body["data"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["tags"].as_array().unwrap().contains(&json!(routes::TAG)))
                .count();
            assert_eq!(
                carrying, 1,
                "org{o}'s {plural} templates lost a tag: {body}"
            );
        }
        let (status, body) = server
            .send(Method::GET, &format!("{TEMPLATES}/tags"), &org.key, None)
            .await;
        assert_eq!(status, 200, "{body}");
        let mut names: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        let mut want: Vec<&str> = org.tags.iter().map(String::as_str).collect();
        want.sort_unstable();
        assert_eq!(names, want, "org{o}'s tags changed");
        assert!(want.contains(&org.own_tag.as_str()));
    }
    eprintln!("isolation replay: {} requests", replay.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_ids_answer_like_random_ones_on_every_route_on_sqlite() {
    let server = Server::start().await;
    replay(&server).await;
}

const OWNER: &str = "bulkhead_owner";
const APP: &str = "bulkhead_app";

/// An engine on a new schema of the process's PostgreSQL server, as the restricted role.
fn pg_engine() -> (Engine, String) {
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
    let schema = format!(
        "bhi_{}_{}",
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
async fn foreign_ids_answer_like_random_ones_on_every_route_on_postgres() {
    let (engine, schema) = tokio::task::spawn_blocking(pg_engine).await.unwrap();
    let server = Server::start_on(engine, None, support::default_config(), |router| router).await;
    replay(&server).await;
    let mut server = server;
    server.stop().await.unwrap();
    tokio::task::spawn_blocking(move || {
        // The last handle on the PostgreSQL pool closes its clients, which block: off the
        // async workers.
        drop(server);
        let mut admin = Client::connect(PgServer::shared().admin_url(), NoTls).unwrap();
        let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    })
    .await
    .unwrap();
}
