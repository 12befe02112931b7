//! The Airbyte public API v1 subset over HTTP: the client-credentials token flow (JSON and
//! form, every token path), the workspaces routes on both prefixes with an access token and
//! an org key, offset pages with links under the public URL, another organization's ids
//! answered like missing ones, the credential kinds kept apart, and malformed input as 4xx
//! problem JSON.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::support;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use support::{Server, default_config, problem};

const PREFIXES: [&str; 2] = ["/v1", "/api/public/v1"];

const TOKEN_PATHS: [&str; 4] = [
    "/v1/applications/token",
    "/api/public/v1/applications/token",
    "/api/v1/account/applications/token",
    "/applications/token",
];

/// `POST path` with a form body, as the `airbyte-api` SDK sends it.
async fn token_form(server: &Server, path: &str, id: &str, secret: &str) -> reqwest::Response {
    let body = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ])
    .unwrap();
    server
        .http
        .post(server.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Asserts a response is a problem of `status`; returns its body.
async fn expect_problem(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    let text = res.text().await.unwrap();
    problem(status, &ct, &text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_give_an_access_token_on_every_path_json_or_form() {
    let server = Server::start().await;
    let id = server.client_id(&server.org_key);
    for path in TOKEN_PATHS {
        // The SDK's form body.
        let res = token_form(&server, path, &id, &server.org_key).await;
        assert_eq!(res.status(), 200, "{path}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        assert_eq!(res.headers()["cache-control"], "no-store");
        let form: Value = res.json().await.unwrap();
        assert_eq!(form["token_type"], "Bearer");
        assert_eq!(form["expires_in"], 900);
        // Airbyte's demo JSON body, with `grant-type`.
        let res = server
            .http
            .post(server.url(path))
            .json(&json!({
                "client_id": id,
                "client_secret": server.org_key,
                "grant-type": "client_credentials",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let answer: Value = res.json().await.unwrap();
        let text = answer.to_string();
        assert!(!text.contains(&server.org_key), "{text}");
        let token = answer["access_token"].as_str().unwrap();
        assert_ne!(Some(token), form["access_token"].as_str());
        // Either token works on v1 and on the organization's embedded routes.
        for token in [token, form["access_token"].as_str().unwrap()] {
            let (status, _) = server
                .send(Method::GET, "/v1/workspaces", token, None)
                .await;
            assert_eq!(status, 200);
        }
        let res = server
            .http
            .post(server.url("/api/v1/embedded/scoped-token"))
            .bearer_auth(token)
            .json(&json!({"external_id": "by-access-token"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_client_credentials_are_one_401_that_echoes_nothing() {
    let server = Server::start().await;
    let id = server.client_id(&server.org_key);
    let other_key = server.other_org();
    let other_id = server.client_id(&other_key);
    let wrong_secret = "bh_org_this_is_not_a_key_of_anyone";
    let mut details = Vec::new();
    for (client, secret) in [
        (id.as_str(), wrong_secret),
        (id.as_str(), other_key.as_str()),
        (other_id.as_str(), server.org_key.as_str()),
        ("not-a-uuid", server.org_key.as_str()),
        (id.as_str(), ""),
    ] {
        let res = token_form(&server, "/v1/applications/token", client, secret).await;
        assert!(res.headers().contains_key("www-authenticate"));
        let body = expect_problem(res, 401).await;
        let text = body.to_string();
        for secret in [wrong_secret, &server.org_key, &other_key] {
            assert!(!text.contains(secret), "{text}");
        }
        details.push(body["detail"].clone());
    }
    details.dedup();
    assert_eq!(details.len(), 1, "{details:?}");
    // A bearer that looks like an access token but was never issued.
    let res = server
        .http
        .get(server.url("/v1/workspaces"))
        .bearer_auth("bh_at_never_issued")
        .send()
        .await
        .unwrap();
    expect_problem(res, 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_token_requests_are_4xx_problems() {
    let server = Server::start().await;
    let id = server.client_id(&server.org_key);
    let post = |ct: &'static str, body: String| {
        server
            .http
            .post(server.url("/v1/applications/token"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let res = post("text/plain", format!("client_id={id}")).await.unwrap();
    expect_problem(res, 415).await;
    let res = post("application/json", "{not json".to_owned())
        .await
        .unwrap();
    expect_problem(res, 400).await;
    let res = post(
        "application/x-www-form-urlencoded",
        format!("grant_type=client_credentials&client_id={id}"),
    )
    .await
    .unwrap();
    let body = expect_problem(res, 400).await;
    assert_eq!(body["field"], "client_secret");
    let res = post(
        "application/x-www-form-urlencoded",
        format!("grant_type=password&client_id={id}&client_secret=x"),
    )
    .await
    .unwrap();
    let body = expect_problem(res, 400).await;
    assert_eq!(body["field"], "grant_type");
    let res = post(
        "application/json",
        json!({"client_id": id, "client_secret": "x", "scope": "all"}).to_string(),
    )
    .await
    .unwrap();
    let body = expect_problem(res, 400).await;
    assert_eq!(body["field"], "scope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_expires_honestly_and_dies_with_its_org_key() {
    let server =
        Server::start_configured(default_config().access_token_ttl(Duration::from_secs(1))).await;
    let id = server.client_id(&server.org_key);
    let res = token_form(&server, "/v1/applications/token", &id, &server.org_key).await;
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["expires_in"], 1);
    let token = answer["access_token"].as_str().unwrap().to_owned();
    let (status, _) = server
        .send(Method::GET, "/v1/workspaces", &token, None)
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, ct, text) = server
        .send_raw(Method::GET, "/v1/workspaces", &token, None)
        .await;
    assert_eq!(status, 401);
    problem(401, &ct, &text);

    // A second key of the organization, revoked after its access token was issued.
    let org = server.engine.authenticate_org(&server.org_key).unwrap();
    let (info, key) = org.create_key(None).unwrap();
    let id = org.org_id().to_string();
    let res = token_form(&server, "/v1/applications/token", &id, key.expose()).await;
    let answer: Value = res.json().await.unwrap();
    let token = answer["access_token"].as_str().unwrap().to_owned();
    let (status, _) = server
        .send(Method::GET, "/v1/workspaces", &token, None)
        .await;
    assert_eq!(status, 200);
    org.revoke_key(info.id).unwrap();
    let (status, ct, text) = server
        .send_raw(Method::GET, "/v1/workspaces", &token, None)
        .await;
    assert_eq!(status, 401, "{text}");
    problem(401, &ct, &text);
}

/// The SDK's checks on a `WorkspaceResponse`: the required fields, `notifications` an
/// object, `createdAt` an integer.
fn assert_workspace_response(body: &Value, name: &str) -> String {
    assert_eq!(body["name"], name, "{body}");
    assert_eq!(body["dataResidency"], "auto");
    assert!(body["notifications"].is_object(), "{body}");
    assert!(body["createdAt"].is_i64(), "{body}");
    body["workspaceId"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_crud_on_both_prefixes_with_either_credential() {
    let server = Server::start().await;
    let token = server.access_token().await;
    for prefix in PREFIXES {
        for (kind, credential) in [("token", token.as_str()), ("key", &server.org_key)] {
            let name = format!("ws {prefix} {kind}");
            let url = format!("{prefix}/workspaces");
            let (status, ct, text) = server
                .send_raw(
                    Method::POST,
                    &url,
                    credential,
                    Some(json!({"name": name, "notifications": {}})),
                )
                .await;
            assert_eq!(status, 200, "{text}");
            assert!(ct.starts_with("application/json"));
            let created: Value = serde_json::from_str(&text).unwrap();
            let id = assert_workspace_response(&created, &name);
            assert_eq!(created["externalId"], name);

            // A second create with the same external id is a conflict, never the old one.
            let (status, ct, text) = server
                .send_raw(Method::POST, &url, credential, Some(json!({"name": name})))
                .await;
            problem(409, &ct, &text);
            assert_eq!(status, 409);

            let one = format!("{prefix}/workspaces/{id}");
            let (status, got) = server.send(Method::GET, &one, credential, None).await;
            assert_eq!(status, 200);
            assert_workspace_response(&got, &name);

            let renamed = format!("{name} renamed");
            let (status, patched) = server
                .send(
                    Method::PATCH,
                    &one,
                    credential,
                    Some(json!({"name": renamed})),
                )
                .await;
            assert_eq!(status, 200, "{patched}");
            assert_workspace_response(&patched, &renamed);
            assert_eq!(patched["workspaceId"], id.as_str());

            let (status, listed) = server
                .send(
                    Method::GET,
                    &format!("{url}?workspaceIds={id}&includeDeleted=false&limit=20&offset=0"),
                    credential,
                    None,
                )
                .await;
            assert_eq!(status, 200);
            assert_eq!(listed["data"].as_array().unwrap().len(), 1);
            assert_eq!(listed["data"][0]["name"], renamed.as_str());

            let (status, _, text) = server
                .send_raw(Method::DELETE, &one, credential, None)
                .await;
            assert_eq!(status, 204);
            assert!(text.is_empty());
            let (status, ct, text) = server.send_raw(Method::GET, &one, credential, None).await;
            assert_eq!(status, 404);
            problem(404, &ct, &text);
        }
    }
    // A create with its own external id.
    let (status, body) = server
        .send(
            Method::POST,
            "/v1/workspaces",
            &token,
            Some(json!({"name": "Acme Corp", "externalId": "cust_42"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["externalId"], "cust_42");
    assert_eq!(body["name"], "Acme Corp");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_pages_link_under_the_public_url() {
    let server =
        Server::start_configured(default_config().public_url("https://api.example.com/")).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let (status, body) = server
            .send(
                Method::POST,
                "/v1/workspaces",
                &server.org_key,
                Some(json!({"name": format!("cust_{n}")})),
            )
            .await;
        assert_eq!(status, 200);
        ids.push(body["workspaceId"].as_str().unwrap().to_owned());
    }
    for prefix in PREFIXES {
        let list = |offset: u32| {
            let url = format!("{prefix}/workspaces?includeDeleted=false&limit=2&offset={offset}");
            let server = &server;
            async move {
                let res = server
                    .http
                    .get(server.url(&url))
                    .bearer_auth(&server.org_key)
                    // A spoofed Host never reaches a link.
                    .header("x-forwarded-host", "evil.example")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
                res.json::<Value>().await.unwrap()
            }
        };
        let link = |offset: u32| {
            format!(
                "https://api.example.com{prefix}/workspaces?includeDeleted=false&limit=2&offset={offset}"
            )
        };
        let first = list(0).await;
        assert_eq!(first["data"].as_array().unwrap().len(), 2);
        assert_eq!(first["data"][0]["name"], "cust_0");
        assert_eq!(first["next"], link(2));
        assert!(first.get("previous").is_none());
        let middle = list(2).await;
        assert_eq!(middle["data"][0]["name"], "cust_2");
        assert_eq!(middle["next"], link(4));
        assert_eq!(middle["previous"], link(0));
        let last = list(4).await;
        assert_eq!(last["data"].as_array().unwrap().len(), 1);
        assert!(last.get("next").is_none());
        assert_eq!(last["previous"], link(2));
        let past = list(10).await;
        assert!(past["data"].as_array().unwrap().is_empty());

        // `workspaceIds` repeated or comma-joined; the links keep the filter.
        let repeated = format!(
            "{prefix}/workspaces?workspaceIds={}&workspaceIds={}&limit=1",
            ids[3], ids[1]
        );
        let joined = format!(
            "{prefix}/workspaces?workspaceIds={},{}&limit=1",
            ids[3], ids[1]
        );
        let a = server.get_ok(&repeated).await;
        let b = server.get_ok(&joined).await;
        assert_eq!(a, b);
        assert_eq!(a["data"][0]["workspaceId"], ids[1].as_str());
        assert_eq!(
            a["next"],
            format!(
                "https://api.example.com{prefix}/workspaces?workspaceIds={}%2C{}&includeDeleted=false&limit=1&offset=1",
                ids[3], ids[1]
            )
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organizations_workspace_is_404_like_a_missing_one() {
    let server = Server::start().await;
    let other_key = server.other_org();
    let (status, theirs) = server
        .send(
            Method::POST,
            "/v1/workspaces",
            &other_key,
            Some(json!({"name": "globex-customer"})),
        )
        .await;
    assert_eq!(status, 200);
    let theirs = theirs["workspaceId"].as_str().unwrap().to_owned();
    let missing = uuid::Uuid::new_v4().to_string();
    let token = server.access_token().await;
    for prefix in PREFIXES {
        for credential in [token.as_str(), &server.org_key] {
            for (method, body) in [
                (Method::GET, None),
                (Method::PATCH, Some(json!({"name": "mine now"}))),
                (Method::DELETE, None),
            ] {
                let mut answers = Vec::new();
                for id in [&theirs, &missing] {
                    let (status, ct, text) = server
                        .send_raw(
                            method.clone(),
                            &format!("{prefix}/workspaces/{id}"),
                            credential,
                            body.clone(),
                        )
                        .await;
                    assert_eq!(status, 404, "{method} {text}");
                    problem(404, &ct, &text);
                    assert!(!text.contains(&theirs));
                    answers.push(text);
                }
                assert_eq!(answers[0], answers[1]);
            }
            // A filter on their id lists nothing.
            let (status, listed) = server
                .send(
                    Method::GET,
                    &format!("{prefix}/workspaces?workspaceIds={theirs}"),
                    credential,
                    None,
                )
                .await;
            assert_eq!(status, 200);
            assert!(listed["data"].as_array().unwrap().is_empty());
        }
    }
    // Theirs is untouched.
    let (status, body) = server
        .send(
            Method::GET,
            &format!("/v1/workspaces/{theirs}"),
            &other_key,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], "globex-customer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_and_scoped_tokens_are_kept_apart() {
    let server = Server::start().await;
    let token = server.access_token().await;
    let (scoped, workspace_id) = server.customer("cust_kinds", None).await;
    // An access token on the scoped routes.
    for (method, path) in [
        (Method::GET, "/api/v1/embedded/scoped-token/info"),
        (Method::GET, "/api/v1/embedded/sources"),
        (Method::GET, "/api/v1/embedded/source-templates"),
    ] {
        let (status, ct, text) = server.send_raw(method, path, &token, None).await;
        assert_eq!(status, 401, "{path}");
        let body = problem(401, &ct, &text);
        assert!(body["detail"].as_str().unwrap().contains("scoped token"));
        assert!(!text.contains(&token));
    }
    // A scoped token on the v1 routes, even for its own workspace.
    for prefix in PREFIXES {
        for (method, path, body) in [
            (Method::GET, format!("{prefix}/workspaces"), None),
            (
                Method::GET,
                format!("{prefix}/workspaces/{workspace_id}"),
                None,
            ),
            (
                Method::POST,
                format!("{prefix}/workspaces"),
                Some(json!({"name": "sneaky"})),
            ),
            (
                Method::DELETE,
                format!("{prefix}/workspaces/{workspace_id}"),
                None,
            ),
        ] {
            let (status, ct, text) = server.send_raw(method, &path, &scoped, body).await;
            assert_eq!(status, 401, "{path}");
            problem(401, &ct, &text);
            assert!(!text.contains(&scoped));
        }
    }
    // The workspace is still there.
    let (status, _) = server
        .send(
            Method::GET,
            &format!("/v1/workspaces/{workspace_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    // A scoped token is no client secret either.
    let id = server.client_id(&server.org_key);
    let res = token_form(&server, "/v1/applications/token", &id, &scoped).await;
    expect_problem(res, 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_v1_requests_are_4xx_problems() {
    let server = Server::start().await;
    let key = server.org_key.clone();
    // Health needs no credential.
    for prefix in PREFIXES {
        let res = server
            .http
            .get(server.url(&format!("{prefix}/health")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let (_, body) = server
        .send(
            Method::POST,
            "/v1/workspaces",
            &key,
            Some(json!({"name": "real"})),
        )
        .await;
    let id = body["workspaceId"].as_str().unwrap().to_owned();
    for prefix in PREFIXES {
        let list = format!("{prefix}/workspaces");
        let one = format!("{prefix}/workspaces/{id}");
        for (method, path, body, status, field) in [
            (
                Method::GET,
                format!("{list}?workspaceId={id}"),
                None,
                400,
                Some("workspaceId"),
            ),
            (
                Method::GET,
                format!("{list}?limit=0"),
                None,
                400,
                Some("limit"),
            ),
            (
                Method::GET,
                format!("{list}?limit=101"),
                None,
                400,
                Some("limit"),
            ),
            (
                Method::GET,
                format!("{list}?offset=-3"),
                None,
                400,
                Some("offset"),
            ),
            (
                Method::GET,
                format!("{list}?includeDeleted=true"),
                None,
                400,
                Some("includeDeleted"),
            ),
            (
                Method::GET,
                format!("{list}?workspaceIds=nope"),
                None,
                400,
                Some("workspaceIds"),
            ),
            (
                Method::GET,
                format!("{list}?limit=1&limit=2"),
                None,
                400,
                Some("limit"),
            ),
            (
                Method::GET,
                format!("{list}/not-a-uuid"),
                None,
                400,
                Some("workspaceId"),
            ),
            (
                Method::POST,
                list.clone(),
                Some(json!({})),
                400,
                Some("name"),
            ),
            (
                Method::POST,
                list.clone(),
                Some(json!({"name": ""})),
                400,
                Some("name"),
            ),
            (
                Method::POST,
                list.clone(),
                Some(json!({"name": 7})),
                400,
                None,
            ),
            (
                Method::POST,
                list.clone(),
                Some(json!({"name": "x", "color": "red"})),
                400,
                Some("color"),
            ),
            (
                Method::POST,
                list.clone(),
                Some(
                    json!({"name": "x", "notifications": {"failure": {"email": {"enabled": true}}}}),
                ),
                400,
                Some("notifications"),
            ),
            (
                Method::POST,
                list.clone(),
                Some(json!({"name": "x", "organizationId": "not-a-uuid"})),
                400,
                Some("organizationId"),
            ),
            (
                Method::PATCH,
                one.clone(),
                Some(json!({"name": ""})),
                400,
                Some("name"),
            ),
            (
                Method::PATCH,
                one.clone(),
                Some(json!({"workspaceId": id})),
                400,
                Some("workspaceId"),
            ),
            (
                Method::PUT,
                one.clone(),
                Some(json!({"name": "x"})),
                405,
                None,
            ),
            (
                Method::GET,
                format!("{prefix}/nothing-here"),
                None,
                404,
                None,
            ),
        ] {
            let (got, ct, text) = server.send_raw(method.clone(), &path, &key, body).await;
            assert_eq!(got, status, "{method} {path}: {text}");
            let problem = problem(status, &ct, &text);
            if let Some(field) = field {
                assert_eq!(problem["field"], field, "{method} {path}: {text}");
            }
        }
        // A body that is not JSON, or not labelled JSON.
        for (ct, body, status) in [
            ("application/json", "{\"name\": ", 400),
            ("text/plain", "{\"name\": \"x\"}", 415),
        ] {
            let res = server
                .http
                .post(server.url(&list))
                .bearer_auth(&key)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap();
            expect_problem(res, status).await;
        }
        // No credential at all.
        let res = server.http.get(server.url(&list)).send().await.unwrap();
        assert!(res.headers().contains_key("www-authenticate"));
        expect_problem(res, 401).await;
    }
    // The workspace survived every malformed call.
    let (status, body) = server
        .send(Method::GET, &format!("/v1/workspaces/{id}"), &key, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], "real");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_never_outlives_its_org_key() {
    let server = Server::start().await;
    let org = server.engine.authenticate_org(&server.org_key).unwrap();
    let soon = bulkhead::Clock::now(&bulkhead::SystemClock).plus(Duration::from_secs(30));
    let (_, key) = org.create_key(Some(soon)).unwrap();
    let id = org.org_id().to_string();
    let res = token_form(&server, "/v1/applications/token", &id, key.expose()).await;
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    let expires_in = answer["expires_in"].as_u64().unwrap();
    assert!((28..=30).contains(&expires_in), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_holds_a_bounded_number_of_access_tokens() {
    let server = Server::start().await;
    let first = server.access_token().await;
    let mut last = String::new();
    for _ in 0..1_000 {
        last = server.access_token().await;
    }
    // The 1,001st retired the oldest; the newest works.
    let (status, _) = server
        .send(Method::GET, "/v1/workspaces", &first, None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = server
        .send(Method::GET, "/v1/workspaces", &last, None)
        .await;
    assert_eq!(status, 200);
}
