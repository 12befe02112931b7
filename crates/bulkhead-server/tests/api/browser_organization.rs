//! The dashboard's organization page in a real headless Chromium: its numbers and the chart of
//! workspace creations, the audit chain verified, a tag created and put on a template, an org
//! key created (its secret shown once) and revoked; source and connection templates created
//! and edited from their forms (a malformed JSON field caught before anything is sent, a
//! problem of the server shown at its field); at a desktop and a phone width, with a quiet
//! console (no error, no warning, no Content-Security-Policy violation).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::browser;
use crate::support;

use browser::{Browser, DESKTOP, PHONE};
use serde_json::{Value, json};
use support::Server;

/// Signs in to the dashboard with the server's org key and opens the organization page from
/// the navigation.
async fn open_organization(browser: &Browser, server: &Server) {
    browser.goto(&server.url("/dashboard/")).await;
    browser.find("#sign-in-view:not([hidden]) #org-key").await;
    // The shell asks who is signed in first: a 401 in the console, the only entry allowed.
    for entry in browser.console().await {
        let message = entry["message"].as_str().unwrap_or_default();
        let expected = entry["source"] == "network"
            && message.contains("/api/v1/dashboard/session")
            && message.contains("status of 401");
        assert!(
            expected || entry["level"] == "INFO" || entry["level"] == "DEBUG",
            "an unexpected console entry: {entry:#}"
        );
    }
    browser.sign_in(&server.org_key).await;
    browser
        .find("#nav:not([hidden]) a[data-nav=organization]")
        .await
        .click()
        .await
        .unwrap();
    browser.find(".org-page").await;
    assert_eq!(
        browser.eval("return location.hash", vec![]).await,
        "#/organization"
    );
}

/// Scrolls the element `css` to the top of the window, for its screenshot.
async fn show(browser: &Browser, css: &str) {
    browser
        .eval(
            "document.querySelector(arguments[0]).scrollIntoView(); return true",
            vec![json!(css)],
        )
        .await;
}

fn count(stat: &str) -> String {
    format!(
        "return (document.querySelector('[data-stat=\"{stat}\"] .org-tile-value') || {{}}).textContent || ''"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_page_shows_numbers_verifies_the_chain_tags_and_manages_keys() {
    let server = Server::start().await;
    for n in 0..3 {
        server.customer(&format!("cust-{n}"), None).await;
    }
    let browser = Browser::start().await;
    open_organization(&browser, &server).await;

    // Counts and the chart.
    browser
        .until(
            "the counts",
            "return !!document.querySelector('[data-stat=\"total\"]')",
        )
        .await;
    assert_eq!(browser.eval(&count("total"), vec![]).await, "3");
    assert_eq!(browser.eval(&count("active"), vec![]).await, "3");
    assert_eq!(
        browser.eval(&count("isolation_breaches"), vec![]).await,
        "0"
    );
    let bars = browser
        .eval(
            "return document.querySelectorAll('svg.org-chart rect.org-bar').length",
            vec![],
        )
        .await;
    assert_eq!(bars, 24);
    let title = browser
        .eval(
            "return document.querySelector('svg.org-chart title').textContent",
            vec![],
        )
        .await;
    assert!(title.as_str().unwrap().contains("per hour"), "{title}");
    browser
        .until(
            "the audit log",
            "return !!document.querySelector('#org-audit table')",
        )
        .await;
    browser.shot("dashboard-organization").await;

    // Verify the chain.
    browser
        .find("button.org-verify")
        .await
        .click()
        .await
        .unwrap();
    browser
        .until(
            "the verdict",
            "return /intact/.test(document.querySelector('.org-verdict').textContent)",
        )
        .await;
    show(&browser, "#org-audit").await;
    browser.shot("dashboard-organization-verified").await;

    // The log filtered by action, from the keyboard: type, then Enter.
    let action = browser.find("#org-audit input[name=action]").await;
    action.send_keys("workspace.create\u{E007}").await.unwrap();
    browser
        .until(
            "the filtered log",
            "const cells = [...document.querySelectorAll('#org-audit tbody tr td:nth-child(4)')]; return cells.length === 3 && cells.every(c => c.textContent === 'workspace.create')",
        )
        .await;

    // A tag, put on a template.
    let tag_input = browser.find("#org-templates input[name=tag]").await;
    tag_input.send_keys("vip").await.unwrap();
    browser
        .find("#org-templates form[aria-label='Create a tag'] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser
        .until("the new tag", "return [...document.querySelectorAll('#org-templates ul[aria-label=Tags] li')].some(li => li.textContent === 'vip')")
        .await;
    let added = browser
        .eval(
            r#"
            const item = document.querySelector('#org-templates .org-template');
            const select = item.querySelector('select[name=tag]');
            select.value = 'vip';
            item.querySelector('form button[type=submit]').click();
            return item.dataset.template;
            "#,
            vec![],
        )
        .await;
    let template = added.as_str().unwrap().to_owned();
    browser
        .until(
            "the tag on the template",
            &format!("const i = document.querySelector('[data-template=\"{template}\"]'); return !!i && [...i.querySelectorAll('.org-chip')].some(c => c.firstChild.textContent === 'vip')"),
        )
        .await;
    // Its name edited, from the keyboard.
    browser
        .find(&format!(
            "[data-template=\"{template}\"] .org-template-head button"
        ))
        .await
        .click()
        .await
        .unwrap();
    let name = browser
        .find(&format!("[data-template=\"{template}\"] input[name=name]"))
        .await;
    name.clear().await.unwrap();
    name.send_keys("Renamed source\u{E007}").await.unwrap();
    browser
        .until(
            "the new name",
            &format!("const i = document.querySelector('[data-template=\"{template}\"] .org-template-name'); return !!i && i.textContent === 'Renamed source'"),
        )
        .await;
    show(&browser, "#org-templates").await;
    browser.shot("dashboard-organization-tagged").await;
    let tagged = server
        .get_ok(&format!(
            "/api/v1/integrations/templates/sources/{template}"
        ))
        .await;
    assert!(
        tagged["tags"].as_array().unwrap().contains(&json!("vip")),
        "{tagged}"
    );
    assert_eq!(tagged["name"], "Renamed source");

    // An org key: created, its secret shown once, then revoked.
    browser
        .find("#org-keys form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let secret = browser.find("#org-keys input.org-secret").await;
    let secret = secret.prop("value").await.unwrap().unwrap();
    assert!(secret.starts_with("bh_org_"), "{secret}");
    show(&browser, "#org-keys").await;
    browser.shot("dashboard-organization-new-key").await;
    let (status, _) = server
        .send(
            reqwest::Method::GET,
            "/api/v1/organization/stats",
            &secret,
            None,
        )
        .await;
    assert_eq!(status, 200);
    browser
        .eval(
            "const rows = document.querySelectorAll('#org-keys tbody tr'); rows[rows.length - 1].querySelector('.org-confirm button').click(); return true;",
            vec![],
        )
        .await;
    browser
        .eval(
            "const rows = document.querySelectorAll('#org-keys tbody tr'); rows[rows.length - 1].querySelector('.org-danger').click(); return true;",
            vec![],
        )
        .await;
    browser
        .until("the revocation", "const rows = document.querySelectorAll('#org-keys tbody tr'); return rows.length === 2 && /revoked/.test(rows[1].textContent)")
        .await;
    show(&browser, "#org-keys").await;
    browser.shot("dashboard-organization-revoked").await;

    // The signing key rotated: a new signer above the old key.
    browser
        .find("#org-signing .org-row button")
        .await
        .click()
        .await
        .unwrap();
    browser
        .until(
            "the rotation",
            "return document.querySelectorAll('#org-signing tbody tr').length === 2",
        )
        .await;
    show(&browser, "#org-signing").await;
    browser.shot("dashboard-organization-signing").await;
    let (status, _) = server
        .send(
            reqwest::Method::GET,
            "/api/v1/organization/stats",
            &secret,
            None,
        )
        .await;
    assert_eq!(status, 401);
    let page: Value = browser.eval("return document.body.innerText", vec![]).await;
    assert!(
        !page.as_str().unwrap().contains(&secret),
        "the secret stayed on the page"
    );

    // A phone's width.
    browser.size(PHONE).await;
    browser
        .eval("window.scrollTo(0, 0); return true", vec![])
        .await;
    browser.shot("dashboard-organization-phone").await;
    let overflow = browser
        .eval(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1",
            vec![],
        )
        .await;
    assert_eq!(
        overflow, true,
        "the page scrolls sideways at a phone's width"
    );
    browser.size(DESKTOP).await;

    browser.assert_quiet_console().await;
    browser.close().await;
}

/// Sets the field `css` to `value` as typing would (an `input` event follows).
async fn fill(browser: &Browser, css: &str, value: &str) {
    browser
        .eval(
            "const f = document.querySelector(arguments[0]); f.value = arguments[1]; f.dispatchEvent(new Event('input', {bubbles: true})); return true",
            vec![json!(css), json!(value)],
        )
        .await;
}

/// Reads the console: its only errors are the refusals of `path` (Chromium logs every 4xx
/// answer to a fetch as an error).
async fn expect_refusal(browser: &Browser, path: &str) {
    for entry in browser.console().await {
        let message = entry["message"].as_str().unwrap_or_default();
        let level = entry["level"].as_str().unwrap_or_default();
        if level != "SEVERE" && level != "WARNING" && !message.contains("Content Security Policy") {
            continue;
        }
        let ok = entry["source"] == "network"
            && message.contains(path)
            && (message.contains("status of 400") || message.contains("status of 422"));
        assert!(ok, "an unexpected console entry: {entry:#}");
    }
}

/// The organization's templates of `kind` (`sources`, `connections`) through the API.
async fn templates(server: &Server, kind: &str) -> Vec<Value> {
    let list = server
        .get_ok(&format!("/api/v1/integrations/templates/{kind}"))
        .await;
    list["data"].as_array().unwrap().clone()
}

fn named(list: &[Value], name: &str) -> Value {
    list.iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no template {name} in {list:#?}"))
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_created_and_edited_from_the_organization_page() {
    let server = Server::start().await;
    let browser = Browser::start().await;
    open_organization(&browser, &server).await;
    browser
        .until(
            "the templates",
            "return !!document.querySelector('#org-templates .org-template')",
        )
        .await;

    // A source template: a spec with one secret field, a default configuration, a tag.
    browser
        .find("#org-templates details.org-new-sources summary")
        .await
        .click()
        .await
        .unwrap();
    let form = "#org-templates details.org-new-sources form";
    browser
        .find(&format!("{form} input[name=name]"))
        .await
        .send_keys("Stripe for VIPs")
        .await
        .unwrap();
    browser
        .find(&format!("{form} input[name=connector_name]"))
        .await
        .send_keys("stripe")
        .await
        .unwrap();
    let spec = json!({
        "type": "object",
        "required": ["api_key"],
        "properties": {
            "api_key": {"type": "string", "airbyte_secret": true},
            "region": {"type": "string", "enum": ["eu", "us"]}
        }
    });
    fill(
        &browser,
        &format!("{form} textarea[name=user_config_spec]"),
        &spec.to_string(),
    )
    .await;
    fill(
        &browser,
        &format!("{form} textarea[name=partial_default_config]"),
        r#"{"api_key": "sk_live_default", "region": "eu"}"#,
    )
    .await;
    browser
        .find(&format!("{form} input[type=checkbox][value=premium]"))
        .await
        .click()
        .await
        .unwrap();
    show(&browser, "#org-templates details.org-new-sources").await;
    browser.shot("dashboard-organization-template-new").await;
    browser
        .find(&format!("{form} button[type=submit]"))
        .await
        .click()
        .await
        .unwrap();
    browser
        .until(
            "the new source template in the list",
            "return [...document.querySelectorAll('#org-templates .org-template-name')].some(n => n.textContent === 'Stripe for VIPs')",
        )
        .await;
    let made = named(&templates(&server, "sources").await, "Stripe for VIPs");
    assert_eq!(made["connector_name"], "stripe");
    assert_eq!(made["user_config_spec"], spec);
    assert_eq!(made["partial_default_config"]["api_key"], "**********");
    assert_eq!(made["partial_default_config"]["region"], "eu");
    assert_eq!(made["tags"], json!(["premium"]));
    let id = made["id"].as_str().unwrap().to_owned();
    let item = format!("#org-templates [data-template=\"{id}\"]");
    let chips = browser
        .eval(
            &format!("return [...document.querySelectorAll('{item} .org-chip')].map(c => c.firstChild.textContent)"),
            vec![],
        )
        .await;
    assert_eq!(chips, json!(["premium"]));

    // Edited: the form shows the spec and the masked default configuration.
    browser
        .find(&format!("{item} button.org-edit"))
        .await
        .click()
        .await
        .unwrap();
    let edit = format!("{item} form.org-template-form");
    let shown_config = browser
        .find(&format!("{edit} textarea[name=partial_default_config]"))
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    let shown_config: Value = serde_json::from_str(&shown_config).unwrap();
    assert_eq!(shown_config["api_key"], "**********");
    let shown_spec = browser
        .find(&format!("{edit} textarea[name=user_config_spec]"))
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&shown_spec).unwrap(), spec);

    // A malformed spec: an error at the field, nothing sent.
    fill(
        &browser,
        &format!("{edit} textarea[name=user_config_spec]"),
        r#"{"type": "object", "properties": {"#,
    )
    .await;
    browser
        .find(&format!("{edit} button[type=submit]"))
        .await
        .click()
        .await
        .unwrap();
    browser
        .until(
            "the error at the spec",
            &format!("const t = document.querySelector('{edit} textarea[name=user_config_spec]'); const e = document.getElementById(t.getAttribute('aria-describedby').split(' ').pop()); return t.getAttribute('aria-invalid') === 'true' && /Not valid JSON/.test(e.textContent) && document.activeElement === t"),
        )
        .await;
    browser.shot("dashboard-organization-template-error").await;
    let unchanged = named(&templates(&server, "sources").await, "Stripe for VIPs");
    assert_eq!(
        unchanged["updated_at"], made["updated_at"],
        "something was sent"
    );
    assert_eq!(unchanged["user_config_spec"], spec);

    // Valid JSON the server refuses: its problem shown at the field it names.
    fill(
        &browser,
        &format!("{edit} textarea[name=user_config_spec]"),
        r#"{"type": "array"}"#,
    )
    .await;
    browser
        .find(&format!("{edit} button[type=submit]"))
        .await
        .click()
        .await
        .unwrap();
    browser
        .until(
            "the server's problem at the spec",
            &format!("const t = document.querySelector('{edit} textarea[name=user_config_spec]'); const e = document.getElementById(t.getAttribute('aria-describedby').split(' ').pop()); return t.getAttribute('aria-invalid') === 'true' && /root of a spec must be/.test(e.textContent)"),
        )
        .await;
    expect_refusal(
        &browser,
        &format!("/api/v1/integrations/templates/sources/{id}"),
    )
    .await;

    // A field added to the spec, and saved.
    let mut wider = spec.clone();
    wider["properties"]["account_id"] = json!({"type": "string", "description": "The account"});
    fill(
        &browser,
        &format!("{edit} textarea[name=user_config_spec]"),
        &serde_json::to_string_pretty(&wider).unwrap(),
    )
    .await;
    browser
        .find(&format!("{edit} button[type=submit]"))
        .await
        .click()
        .await
        .unwrap();
    browser
        .until(
            "the edit saved",
            &format!("return !!document.querySelector('{item}') && !document.querySelector('{edit}') && /Saved/.test(document.querySelector('#org-templates .org-status').textContent)"),
        )
        .await;
    let saved = named(&templates(&server, "sources").await, "Stripe for VIPs");
    assert_eq!(saved["user_config_spec"], wider);
    assert_eq!(
        saved["partial_default_config"],
        made["partial_default_config"]
    );
    assert_eq!(saved["tags"], json!(["premium"]));
    show(&browser, &item).await;
    browser.shot("dashboard-organization-template-edited").await;

    // A connection template.
    browser
        .find("#org-templates details.org-new-connections summary")
        .await
        .click()
        .await
        .unwrap();
    let form = "#org-templates details.org-new-connections form";
    browser
        .find(&format!("{form} input[name=destination_name]"))
        .await
        .send_keys("Lakehouse")
        .await
        .unwrap();
    browser
        .find(&format!("{form} input[name=destination_connector]"))
        .await
        .send_keys("s3")
        .await
        .unwrap();
    fill(
        &browser,
        &format!("{form} textarea[name=destination_config]"),
        r#"{"bucket": "lake", "secret_key": "s3cr3t"}"#,
    )
    .await;
    fill(
        &browser,
        &format!("{form} textarea[name=destination_spec]"),
        r#"{"type": "object", "properties": {"bucket": {"type": "string"}, "secret_key": {"type": "string", "airbyte_secret": true}}}"#,
    )
    .await;
    browser
        .find(&format!("{form} input[name=cron_expression]"))
        .await
        .send_keys("30 2 * * *")
        .await
        .unwrap();
    browser
        .find(&format!("{form} input[type=checkbox][value=premium]"))
        .await
        .click()
        .await
        .unwrap();
    show(&browser, "#org-templates details.org-new-connections").await;
    browser
        .shot("dashboard-organization-template-connection")
        .await;
    browser
        .find(&format!("{form} button[type=submit]"))
        .await
        .click()
        .await
        .unwrap();
    browser
        .until(
            "the new connection template in the list",
            "return [...document.querySelectorAll('#org-templates .org-template-name')].some(n => n.textContent === 'Lakehouse')",
        )
        .await;
    let lake = named(&templates(&server, "connections").await, "Lakehouse");
    assert_eq!(lake["destination_connector"], "s3");
    assert_eq!(lake["destination_config"]["bucket"], "lake");
    assert_eq!(lake["destination_config"]["secret_key"], "**********");
    assert_eq!(lake["cron_expression"], "30 2 * * *");
    assert_eq!(lake["tags"], json!(["premium"]));
    show(&browser, "#org-templates").await;
    browser.shot("dashboard-organization-template-list").await;

    // A phone's width, with a form open.
    browser.size(PHONE).await;
    browser
        .find(&format!("{item} button.org-edit"))
        .await
        .click()
        .await
        .unwrap();
    browser.find(&edit).await;
    show(&browser, &edit).await;
    browser.shot("dashboard-organization-template-phone").await;
    let overflow = browser
        .eval(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1",
            vec![],
        )
        .await;
    assert_eq!(
        overflow, true,
        "the page scrolls sideways at a phone's width"
    );
    browser.size(DESKTOP).await;

    browser.assert_quiet_console().await;
    browser.close().await;
}
