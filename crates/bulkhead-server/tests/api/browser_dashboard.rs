//! The organization's dashboard in a real headless Chromium: sign-in (a wrong key shows an
//! error, the right one the workspaces), search by external id, paging forward and back, a
//! workspace's page (sources, connections, the runs chart; another organization's workspace
//! never shows), deactivate and reactivate, delete confirmed by typing the external id, and
//! sign-out (the old cookie is then refused by the API). Every page visited is saved under
//! `target/screenshots/dashboard-*.png`, and the console stays quiet but for the refusals a
//! step expects.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::browser;
use crate::support;

use browser::{Browser, DESKTOP, PHONE};
use bulkhead::{OrgScope, Page, SyncOutcome, SyncStatus, WorkspaceId};
use serde_json::{Value, json};
use support::Server;

/// How many workspaces the organization has: more than two pages of 25.
const WORKSPACES: usize = 60;

/// The seeded organization: `cust-001`..`cust-060`, the first three with a source, a
/// connection and runs (every third one failed); another organization with `theirs-001`.
struct Seeded {
    server: Server,
    org: OrgScope,
    /// `cust-001`'s id.
    busy: String,
    /// The other organization's workspace.
    foreign: String,
}

async fn seed() -> Seeded {
    let server = Server::start().await;
    let org = server.engine.authenticate_org(&server.org_key).unwrap();
    let mut busy = String::new();
    for n in 1..=3 {
        let (token, id) = server.customer(&format!("cust-{n:03}"), None).await;
        server.create_source(&token).await;
        let ws = org.workspace(id.parse::<WorkspaceId>().unwrap()).unwrap();
        let connection = ws.list_connections(&Page::first(10)).unwrap().items[0].id;
        for run in 0..(4 * n) {
            let started = ws.start_sync(connection).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(3));
            let outcome = if run % 3 == 2 {
                SyncOutcome::Failed {
                    error: "the API answered 500".to_owned(),
                    rows: 0,
                    bytes: 0,
                }
            } else {
                SyncOutcome::Succeeded {
                    rows: 1_000 * (run + 1),
                    bytes: 64_000 * (run + 1),
                }
            };
            ws.finish_sync(started.id, outcome).unwrap();
        }
        if n == 1 {
            busy = id;
        }
    }
    let setup = org.clone();
    tokio::task::spawn_blocking(move || {
        for n in 4..=WORKSPACES {
            setup
                .get_or_create_workspace(&format!("cust-{n:03}").parse().unwrap())
                .unwrap();
        }
    })
    .await
    .unwrap();
    let other_key = server.other_org();
    let foreign = server
        .engine
        .authenticate_org(&other_key)
        .unwrap()
        .get_or_create_workspace(&"theirs-001".parse().unwrap())
        .unwrap()
        .workspace
        .id
        .to_string();
    Seeded {
        server,
        org,
        busy,
        foreign,
    }
}

/// Reads the console and fails unless every entry is the browser's own report of an expected
/// refused request (`path` answered `status`): a fetch that gets a 4xx is logged by Chromium
/// as an error even when the page handles it.
async fn expect_refusals(browser: &Browser, expected: &[(&str, u16)]) {
    for entry in browser.console().await {
        let message = entry["message"].as_str().unwrap_or_default();
        let level = entry["level"].as_str().unwrap_or_default();
        // What `assert_quiet_console` lets through (hints, logs) is let through here too.
        if level != "SEVERE" && level != "WARNING" && !message.contains("Content Security Policy") {
            continue;
        }
        let ok = entry["source"] == "network"
            && expected.iter().any(|(path, status)| {
                message.contains(path) && message.contains(&format!("status of {status}"))
            });
        assert!(ok, "an unexpected console entry: {entry:#}");
    }
}

/// The external ids shown in the workspaces table, in order.
async fn shown(browser: &Browser) -> Vec<String> {
    let value = browser
        .eval(
            "return [...document.querySelectorAll('#workspaces tbody a.ext')].map(a => a.textContent);",
            vec![],
        )
        .await;
    serde_json::from_value(value).unwrap()
}

/// Waits until the table's first row is `external_id` and it has `rows` rows.
async fn until_table(browser: &Browser, first: &str, rows: usize) {
    browser
        .until(
            &format!("the table to start at {first} with {rows} rows"),
            &format!(
                "const links = document.querySelectorAll('#workspaces tbody a.ext');
                 return links.length === {rows} && links[0].textContent === {first:?};"
            ),
        )
        .await;
}

async fn click(browser: &Browser, css: &str) {
    browser.find(css).await.click().await.unwrap();
}

/// The workspace's status through the API, with the org key.
async fn api_status(server: &Server, id: &str) -> Value {
    let body = server.get_ok(&format!("/api/v1/workspaces/{id}")).await;
    body["status"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_search_and_page_through_the_workspaces() {
    let seeded = seed().await;
    let server = &seeded.server;
    let browser = Browser::start().await;
    browser.goto(&server.url("/dashboard/")).await;
    browser.find("#sign-in-view:not([hidden]) #org-key").await;
    let chrome = browser
        .eval(
            "return ['nav', 'sign-out'].map(id => getComputedStyle(document.getElementById(id)).display);",
            vec![],
        )
        .await;
    assert_eq!(chrome, json!(["none", "none"]), "signed out, no navigation");
    browser.shot("dashboard-sign-in").await;
    expect_refusals(&browser, &[("/api/v1/dashboard/session", 401)]).await;

    // A wrong key: an error, and still the sign-in form.
    browser.sign_in("bh_org_this-is-not-a-key-of-anyone").await;
    let error = browser.find("#sign-in-error:not([hidden])").await;
    assert!(error.text().await.unwrap().contains("not accepted"));
    browser.shot("dashboard-sign-in-error").await;
    expect_refusals(&browser, &[("/api/v1/dashboard/session", 401)]).await;

    // The right key: the first page of 25, the counts by status.
    browser.sign_in(&server.org_key).await;
    until_table(&browser, "cust-001", 25).await;
    let total = browser.find(".stats .stat:nth-child(3) dd").await;
    assert_eq!(total.text().await.unwrap(), "60");
    let first_row = browser.find("#workspaces tbody tr:first-child").await;
    let text = first_row.text().await.unwrap();
    assert!(
        text.contains("succeeded") || text.contains("failed"),
        "{text}"
    );
    browser.shot("dashboard-workspaces").await;
    // The key never stays in the page or its storage.
    let kept = browser
        .eval(
            "return document.documentElement.outerHTML.includes(arguments[0])
                || JSON.stringify(localStorage).includes(arguments[0])
                || JSON.stringify(sessionStorage).includes(arguments[0])
                || location.href.includes(arguments[0]);",
            vec![json!(server.org_key)],
        )
        .await;
    assert_eq!(kept, Value::Bool(false));

    // Paging forward twice, then back.
    click(&browser, "#next-page").await;
    until_table(&browser, "cust-026", 25).await;
    browser.shot("dashboard-workspaces-page-2").await;
    click(&browser, "#next-page").await;
    until_table(&browser, "cust-051", 10).await;
    let next_disabled = browser
        .eval(
            "return document.getElementById('next-page').disabled;",
            vec![],
        )
        .await;
    assert_eq!(next_disabled, Value::Bool(true));
    browser.shot("dashboard-workspaces-page-3").await;
    click(&browser, "#prev-page").await;
    until_table(&browser, "cust-026", 25).await;
    browser.shot("dashboard-workspaces-back-to-2").await;

    // Search by external id prefix: from the first page again.
    let search = browser.find("#search").await;
    search.send_keys("cust-04").await.unwrap();
    click(&browser, ".filters button[type=submit]").await;
    until_table(&browser, "cust-040", 10).await;
    assert!(
        shown(&browser)
            .await
            .iter()
            .all(|e| e.starts_with("cust-04"))
    );
    browser.shot("dashboard-search").await;
    // Another organization's workspace never shows.
    search.clear().await.unwrap();
    search.send_keys("theirs").await.unwrap();
    click(&browser, ".filters button[type=submit]").await;
    browser.find("#workspaces td.empty").await;
    assert!(shown(&browser).await.is_empty());
    browser.shot("dashboard-search-foreign").await;

    // The same list at a phone's width.
    search.clear().await.unwrap();
    click(&browser, ".filters button[type=submit]").await;
    until_table(&browser, "cust-001", 25).await;
    browser.size(PHONE).await;
    browser.shot("dashboard-workspaces-phone").await;
    let overflow = browser
        .eval(
            "return document.documentElement.scrollWidth > window.innerWidth + 1;",
            vec![],
        )
        .await;
    assert_eq!(overflow, Value::Bool(false), "the page scrolls sideways");

    browser.assert_quiet_console().await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_page_its_actions_and_sign_out() {
    let seeded = seed().await;
    let server = &seeded.server;
    let browser = Browser::start().await;
    browser.goto(&server.url("/dashboard/")).await;
    browser.find("#sign-in-view:not([hidden]) #org-key").await;
    expect_refusals(&browser, &[("/api/v1/dashboard/session", 401)]).await;
    browser.sign_in(&server.org_key).await;
    until_table(&browser, "cust-001", 25).await;
    browser.shot("dashboard-list").await;

    // cust-001's page: its source, destination, connection, chart and audit events.
    click(&browser, "#workspaces tbody tr:first-child a.ext").await;
    let title = browser.find("#workspace-title").await;
    assert!(title.text().await.unwrap().starts_with("cust-001"));
    browser.find("#sources tbody tr").await;
    browser.find("#destinations tbody tr").await;
    browser.find("#connections button[data-sync]").await;
    browser.find("#runs-chart rect.bar").await;
    let bars = browser
        .eval(
            "return [document.querySelectorAll('#runs-chart rect.bar').length,
                     document.querySelectorAll('#runs-chart rect.bar.failed').length,
                     document.querySelector('#runs-chart rect.bar.failed title').textContent];",
            vec![],
        )
        .await;
    assert_eq!(bars[0], 4);
    assert_eq!(bars[1], 1);
    assert!(bars[2].as_str().unwrap().starts_with("Failed run"));
    browser.find("#audit .events li").await;
    browser.shot("dashboard-workspace").await;
    browser.size(PHONE).await;
    browser.shot("dashboard-workspace-phone").await;
    let overflow = browser
        .eval(
            "return document.documentElement.scrollWidth > window.innerWidth + 1;",
            vec![],
        )
        .await;
    assert_eq!(overflow, Value::Bool(false), "the page scrolls sideways");
    browser.size(DESKTOP).await;

    // Deactivate, then reactivate: the page and the API agree.
    click(&browser, "#toggle-status").await;
    browser
        .until(
            "the page to say inactive",
            "const b = document.querySelector('#workspace-title .badge');
             return !!b && b.textContent === 'inactive'
                 && document.getElementById('toggle-status').textContent === 'Reactivate';",
        )
        .await;
    assert_eq!(api_status(server, &seeded.busy).await, "inactive");
    browser.shot("dashboard-workspace-inactive").await;
    click(&browser, "#toggle-status").await;
    browser
        .until(
            "the page to say active",
            "const b = document.querySelector('#workspace-title .badge');
             return !!b && b.textContent === 'active';",
        )
        .await;
    assert_eq!(api_status(server, &seeded.busy).await, "active");
    browser.shot("dashboard-workspace-reactivated").await;

    // Sync now queues a job of the connection (a worker runs it).
    click(&browser, "#connections button[data-sync]").await;
    browser
        .until(
            "the sync to show",
            "const f = document.getElementById('flash');
             return !!f && !f.hidden && f.textContent.includes('queued');",
        )
        .await;
    let ws = seeded
        .org
        .workspace(seeded.busy.parse::<WorkspaceId>().unwrap())
        .unwrap();
    let connection = ws.list_connections(&Page::first(1)).unwrap().items[0].id;
    let latest = ws.list_sync_runs(connection, &Page::first(1)).unwrap();
    assert_eq!(latest.items[0].status, SyncStatus::Pending);
    browser.shot("dashboard-workspace-synced").await;

    // Revoke all tokens, confirmed in a dialog.
    let (token, _) = server.customer("cust-001", None).await;
    click(&browser, "#revoke-tokens").await;
    browser.find("dialog[open]").await;
    browser.shot("dashboard-revoke-confirm").await;
    click(&browser, "dialog .button.primary[type=submit]").await;
    browser
        .until(
            "the revocation to show",
            "const f = document.getElementById('flash');
             return !!f && !f.hidden && f.textContent.includes('revoked');",
        )
        .await;
    let (status, _) = server
        .send(
            reqwest::Method::GET,
            "/api/v1/embedded/sources",
            &token,
            None,
        )
        .await;
    assert_eq!(
        status, 401,
        "a token issued before the revocation is refused"
    );

    // Merge cust-003 into cust-001 by its external id: its runs join the chart.
    click(&browser, "#merge").await;
    browser
        .find("#merge-from")
        .await
        .send_keys("cust-003")
        .await
        .unwrap();
    browser.shot("dashboard-merge-confirm").await;
    click(&browser, "dialog .button.primary[type=submit]").await;
    browser
        .until(
            "the merge to show",
            "const f = document.getElementById('flash');
             return !!f && !f.hidden && f.textContent.startsWith('Merged')
                 && document.querySelectorAll('#runs-chart rect.bar').length === 17;",
        )
        .await;
    browser.shot("dashboard-workspace-merged").await;
    let found = server.get_ok("/api/v1/workspaces?limit=100").await;
    assert!(
        !found.to_string().contains("cust-003"),
        "the duplicate is gone"
    );

    // Another organization's workspace is not found, like a missing one.
    browser
        .goto(&server.url(&format!("/dashboard/#/workspaces/{}", seeded.foreign)))
        .await;
    browser
        .until(
            "the not-found page",
            "const h = document.querySelector('#view h1');
             return !!h && h.textContent === 'Workspace not found';",
        )
        .await;
    let page = browser
        .eval("return document.body.textContent;", vec![])
        .await;
    assert!(!page.as_str().unwrap().contains("theirs-001"));
    browser.shot("dashboard-foreign-workspace").await;
    expect_refusals(
        &browser,
        &[(&format!("/api/v1/workspaces/{}", seeded.foreign), 404)],
    )
    .await;

    // Delete cust-002: a wrong confirmation deletes nothing, the exact external id does.
    let page = server.get_ok("/api/v1/workspaces?limit=2").await;
    let doomed = page["data"][1]["id"].as_str().unwrap().to_owned();
    assert_eq!(page["data"][1]["external_id"], "cust-002");
    browser
        .goto(&server.url(&format!("/dashboard/#/workspaces/{doomed}")))
        .await;
    click(&browser, "#delete").await;
    let confirm = browser.find("#confirm-external-id").await;
    confirm.send_keys("CUST-002").await.unwrap();
    let submit_disabled =
        "return document.querySelector('dialog .button.danger[type=submit]').disabled;";
    assert_eq!(
        browser.eval(submit_disabled, vec![]).await,
        Value::Bool(true)
    );
    confirm.send_keys("\u{E007}").await.unwrap(); // Enter: refused as well.
    browser.shot("dashboard-delete-confirm").await;
    assert_eq!(api_status(server, &doomed).await, "active");
    confirm.clear().await.unwrap();
    confirm.send_keys("cust-002").await.unwrap();
    assert_eq!(
        browser.eval(submit_disabled, vec![]).await,
        Value::Bool(false)
    );
    click(&browser, "dialog .button.danger[type=submit]").await;
    until_table(&browser, "cust-001", 25).await;
    assert!(!shown(&browser).await.contains(&"cust-002".to_owned()));
    let (status, _) = server
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/workspaces/{doomed}"),
            &server.org_key,
            None,
        )
        .await;
    assert_eq!(status, 404);
    browser.shot("dashboard-after-delete").await;

    // Sign out: the page asks for the key again, and the old cookie is refused.
    let cookie = browser
        .client
        .get_named_cookie("bulkhead_session")
        .await
        .unwrap();
    let cookie = format!("bulkhead_session={}", cookie.value());
    click(&browser, "#sign-out").await;
    browser.find("#sign-in-view:not([hidden])").await;
    browser.shot("dashboard-signed-out").await;
    let res = server
        .http
        .get(server.url("/api/v1/workspaces"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    browser.assert_quiet_console().await;
    browser.close().await;
}
