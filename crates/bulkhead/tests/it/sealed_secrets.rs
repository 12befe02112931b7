//! Sealed secrets: secret fields are masked on every read and revealed only to the
//! organization; sealed values are bound to their workspace, object and field; deleting a
//! workspace shreds its data key; rotating the master key keeps every secret readable; and no
//! plaintext secret ever reaches the database file or its WAL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use bulkhead::{
    ConnectionTemplateId, ConnectionTemplateUpdate, ConnectorConfig, ConnectorUpdate, Destination,
    DestinationId, Engine, Error, MasterKey, NewSourceFromTemplate, ObjectKind, OrgScope, Page,
    Result, SECRET_MASK, Source, SourceFromTemplate, SourceId, SourceTemplateId,
    SourceTemplateUpdate, SyncOutcome, WorkspaceFilter, WorkspaceId, WorkspaceScope,
    default_key_file,
};
use common::catalog::{
    connection_template, cron, customer, json_config, raw_rows, source_template, spec,
};
use common::{
    Contents, Db, all_pages, all_workspaces, assert_invalid, assert_not_found, config, ext,
    raw_connection,
};
use serde_json::{Value, json};

/// The source spec: `api_key`, `webhook_secret` and `credentials.client_secret` are secret.
fn stripe_spec() -> Value {
    json!({
        "type": "object",
        "required": ["account_id", "api_key"],
        "properties": {
            "account_id": {"type": "string"},
            "api_key": {"type": "string", "airbyte_secret": true},
            "webhook_secret": {"type": "string", "airbyte_secret": true},
            "region": {"type": "string"},
            "credentials": {
                "type": "object",
                "properties": {
                    "client_id": {"type": "string"},
                    "client_secret": {"type": "string", "airbyte_secret": true}
                }
            }
        }
    })
}

/// The destination spec: `secret_access_key` is secret.
fn s3_spec() -> Value {
    json!({
        "type": "object",
        "required": ["bucket", "secret_access_key"],
        "properties": {
            "bucket": {"type": "string"},
            "access_key_id": {"type": "string"},
            "secret_access_key": {"type": "string", "airbyte_secret": true}
        }
    })
}

const TEMPLATE_WEBHOOK: &str = "whsec_TEMPLATE_default_webhook_7c1d";
const DESTINATION_SECRET: &str = "s3key_TEMPLATE_destination_secret_9a2e";

/// An organization with a source template (a default secret) and a connection template (a
/// secret destination field), both untagged.
struct Catalog {
    org: OrgScope,
    source: SourceTemplateId,
    connection: ConnectionTemplateId,
}

impl Catalog {
    fn new(db: &Db, name: &str) -> Self {
        let org = db.org(name);
        let source = org
            .create_source_template(source_template(
                "Stripe",
                json!({"region": "us", "webhook_secret": TEMPLATE_WEBHOOK}),
                stripe_spec(),
                &[],
            ))
            .unwrap()
            .id;
        let connection = org
            .create_connection_template(connection_template(
                "Stripe to S3",
                "S3 bucket",
                json!({"bucket": "acme-exports", "access_key_id": "AKIA_VISIBLE_ID",
                       "secret_access_key": DESTINATION_SECRET}),
                s3_spec(),
                cron("0 * * * *"),
                &[],
            ))
            .unwrap()
            .id;
        Self {
            org,
            source,
            connection,
        }
    }

    fn customer(&self, db: &Db, external_id: &str) -> (bulkhead::IssuedToken, WorkspaceScope) {
        customer(db, &self.org, external_id, None, None)
    }
}

fn from_template(
    template_id: SourceTemplateId,
    name: &str,
    config: Value,
) -> NewSourceFromTemplate {
    NewSourceFromTemplate {
        template_id,
        name: name.parse().unwrap(),
        config: json_config(config),
    }
}

/// A customer's source config with distinctive secrets.
fn customer_config(api_key: &str, client_secret: &str) -> Value {
    json!({
        "account_id": "acct_VISIBLE_account",
        "api_key": api_key,
        "credentials": {"client_id": "client_VISIBLE_id", "client_secret": client_secret}
    })
}

/// What a source made with [`customer_config`] holds, secrets included.
fn full_source_config(api_key: &str, client_secret: &str, webhook: &str) -> ConnectorConfig {
    json_config(json!({
        "account_id": "acct_VISIBLE_account",
        "api_key": api_key,
        "region": "us",
        "webhook_secret": webhook,
        "credentials": {"client_id": "client_VISIBLE_id", "client_secret": client_secret}
    }))
}

fn masked_source_config() -> ConnectorConfig {
    full_source_config(SECRET_MASK, SECRET_MASK, SECRET_MASK)
}

fn full_destination_config(secret: &str) -> ConnectorConfig {
    json_config(json!({
        "bucket": "acme-exports",
        "access_key_id": "AKIA_VISIBLE_ID",
        "secret_access_key": secret
    }))
}

/// Creates a source with [`customer_config`] in `ws`.
fn make_source(
    ws: &WorkspaceScope,
    catalog: &Catalog,
    name: &str,
    api_key: &str,
    client_secret: &str,
) -> SourceFromTemplate {
    ws.create_source_from_template(from_template(
        catalog.source,
        name,
        customer_config(api_key, client_secret),
    ))
    .unwrap()
}

/// The `secrets` column of the source or destination `id`, read outside the engine.
fn raw_secrets(db: &Db, table: &str, id: &uuid_like::Id) -> String {
    raw_connection(&db.path)
        .query_row(
            &format!("SELECT secrets FROM {table} WHERE id = ?1"),
            [id.bytes()],
            |r| r.get(0),
        )
        .unwrap()
}

fn set_raw_secrets(db: &Db, table: &str, id: &uuid_like::Id, secrets: &str) {
    let changed = raw_connection(&db.path)
        .execute(
            &format!("UPDATE {table} SET secrets = ?2 WHERE id = ?1"),
            rusqlite::params![id.bytes(), secrets],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

/// The sealed data key of `workspace`; `None` if it has none, or no row.
fn raw_sealed_dek(db: &Db, workspace: WorkspaceId) -> Option<Vec<u8>> {
    use rusqlite::OptionalExtension as _;
    raw_connection(&db.path)
        .query_row(
            "SELECT sealed_dek FROM workspaces WHERE id = ?1",
            [workspace.as_uuid().as_bytes().to_vec()],
            |r| r.get::<_, Option<Vec<u8>>>(0),
        )
        .optional()
        .unwrap()
        .flatten()
}

/// Ids as the bytes SQLite stores them as, without naming the `uuid` crate.
mod uuid_like {
    pub(crate) struct Id(Vec<u8>);

    impl Id {
        pub(crate) fn bytes(&self) -> Vec<u8> {
            self.0.clone()
        }
    }

    pub(crate) fn source(id: bulkhead::SourceId) -> Id {
        Id(id.as_uuid().as_bytes().to_vec())
    }

    pub(crate) fn destination(id: bulkhead::DestinationId) -> Id {
        Id(id.as_uuid().as_bytes().to_vec())
    }
}

/// The stored sealed secrets as a map from pointer to sealed text (a value the organization
/// supplied is stored as `{"org": text}`).
fn sealed_map(stored: &str) -> BTreeMap<String, String> {
    let map: BTreeMap<String, Value> = serde_json::from_str(stored).unwrap();
    map.into_iter()
        .map(|(pointer, value)| {
            let text = match &value {
                Value::String(text) => text.clone(),
                Value::Object(org) => org["org"].as_str().unwrap().to_owned(),
                other => panic!("a sealed value stored as {other}"),
            };
            (pointer, text)
        })
        .collect()
}

/// Asserts `result` is [`Error::Crypto`] and mentions none of `secrets`.
#[track_caller]
fn assert_crypto<T: fmt::Debug>(result: Result<T>, secrets: &[&str]) {
    match result {
        Err(err @ Error::Crypto { .. }) => {
            let shown = format!("{err} {err:?}");
            for secret in secrets {
                assert!(!shown.contains(secret), "the error shows a secret: {shown}");
            }
        }
        other => panic!("expected a crypto error, got {other:?}"),
    }
}

#[test]
fn secret_fields_are_masked_on_every_read_and_revealed_only_by_the_organization() {
    let db = Db::new();
    let catalog = Catalog::new(&db, "Acme");
    let (issued, ws) = catalog.customer(&db, "cust-1");
    let made = make_source(
        &ws,
        &catalog,
        "Stripe",
        "sk_live_customer_key_1",
        "cs_nested_1",
    );
    let full = catalog.org.workspace(issued.workspace_id).unwrap();

    // The source: masked in what creation returned, get, list, and the organization's reads.
    let masked = masked_source_config();
    assert_eq!(made.source.config, masked);
    assert_eq!(ws.get_source(made.source.id).unwrap().config, masked);
    assert_eq!(full.get_source(made.source.id).unwrap().config, masked);
    for scope in [&ws, &full] {
        let listed = all_pages(10, |p| scope.list_sources(p));
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].config, masked);
    }
    // The destination its connection template made, whose spec marks a secret.
    let destination = &made.destinations[0];
    let masked_destination = full_destination_config(SECRET_MASK);
    assert_eq!(destination.template_id, Some(catalog.connection));
    assert_eq!(destination.config, masked_destination);
    assert_eq!(
        ws.get_destination(destination.id).unwrap().config,
        masked_destination
    );
    for scope in [&ws, &full] {
        let listed = all_pages(10, |p| scope.list_destinations(p));
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].config, masked_destination);
    }
    // Nor do serialized or debug forms carry a secret.
    let shown = format!(
        "{} {:?} {} {:?}",
        serde_json::to_string(&made).unwrap(),
        made,
        serde_json::to_string(&ws.source_templates().unwrap()).unwrap(),
        ws.connection_templates().unwrap(),
    );
    for secret in [
        "sk_live_customer_key_1",
        "cs_nested_1",
        TEMPLATE_WEBHOOK,
        DESTINATION_SECRET,
    ] {
        assert!(!shown.contains(secret), "{secret} shown");
    }

    // The organization reveals them.
    assert_eq!(
        catalog
            .org
            .reveal_source_config(issued.workspace_id, made.source.id)
            .unwrap(),
        full_source_config("sk_live_customer_key_1", "cs_nested_1", TEMPLATE_WEBHOOK)
    );
    assert_eq!(
        catalog
            .org
            .reveal_destination_config(issued.workspace_id, destination.id)
            .unwrap(),
        full_destination_config(DESTINATION_SECRET)
    );
    // Revealing reads nothing into the stored config.
    assert_eq!(ws.get_source(made.source.id).unwrap().config, masked);

    // Only with the right workspace, and only within the organization.
    let (other_issued, _) = catalog.customer(&db, "cust-2");
    assert_not_found(
        catalog
            .org
            .reveal_source_config(other_issued.workspace_id, made.source.id),
        ObjectKind::Source,
        made.source.id,
    );
    assert_not_found(
        catalog
            .org
            .reveal_destination_config(other_issued.workspace_id, destination.id),
        ObjectKind::Destination,
        destination.id,
    );
    let stranger = db.org("Stranger");
    assert_not_found(
        stranger.reveal_source_config(issued.workspace_id, made.source.id),
        ObjectKind::Workspace,
        issued.workspace_id,
    );
}

#[test]
fn mask_sent_back_keeps_the_stored_secret_and_a_new_value_replaces_it() {
    let db = Db::new();
    let catalog = Catalog::new(&db, "Acme");
    let org = &catalog.org;
    let (issued, ws) = catalog.customer(&db, "cust-1");
    let wid = issued.workspace_id;
    let made = make_source(&ws, &catalog, "Stripe", "sk_live_original", "cs_original");
    let source = made.source.id;
    let sealed_before = sealed_map(&raw_secrets(&db, "sources", &uuid_like::source(source)));

    // What the customer read, sent back with a visible change: refused, since the source
    // keeps the organization's webhook secret (it would go to another account); nothing
    // changes.
    let mut read = ws.get_source(source).unwrap().config.as_map().clone();
    read.insert("account_id".into(), json!("acct_VISIBLE_changed"));
    let changed = ConnectorUpdate {
        name: None,
        config: Some(ConnectorConfig::new(Value::Object(read.clone())).unwrap()),
    };
    assert_invalid(
        ws.update_source(source, &changed),
        "config at `/account_id`",
    );
    assert_eq!(
        sealed_map(&raw_secrets(&db, "sources", &uuid_like::source(source))),
        sealed_before
    );
    // The organization may: the secrets stay.
    let updated = org
        .workspace(wid)
        .unwrap()
        .update_source(
            source,
            &ConnectorUpdate {
                name: None,
                config: Some(ConnectorConfig::new(Value::Object(read)).unwrap()),
            },
        )
        .unwrap();
    assert_eq!(updated.config.as_map()["api_key"], SECRET_MASK);
    assert_eq!(
        updated.config.as_map()["account_id"],
        "acct_VISIBLE_changed"
    );
    let mut expected = full_source_config("sk_live_original", "cs_original", TEMPLATE_WEBHOOK)
        .as_map()
        .clone();
    expected.insert("account_id".into(), json!("acct_VISIBLE_changed"));
    assert_eq!(
        org.reveal_source_config(wid, source).unwrap().as_map(),
        &expected
    );
    let sealed_after = sealed_map(&raw_secrets(&db, "sources", &uuid_like::source(source)));
    assert_eq!(
        sealed_after["/api_key"], sealed_before["/api_key"],
        "kept as sealed"
    );
    assert_eq!(
        sealed_after["/credentials/client_secret"],
        sealed_before["/credentials/client_secret"]
    );

    // A new value replaces the stored one; the masked field beside it stays.
    let mut config = customer_config("sk_live_replaced", SECRET_MASK);
    config["account_id"] = json!("acct_VISIBLE_changed");
    let updated = ws
        .update_source(
            source,
            &ConnectorUpdate {
                name: None,
                config: Some(json_config(config)),
            },
        )
        .unwrap();
    assert_eq!(updated.config.as_map()["api_key"], SECRET_MASK);
    expected.insert("api_key".into(), json!("sk_live_replaced"));
    assert_eq!(
        org.reveal_source_config(wid, source).unwrap().as_map(),
        &expected
    );
    let sealed_now = sealed_map(&raw_secrets(&db, "sources", &uuid_like::source(source)));
    assert_ne!(sealed_now["/api_key"], sealed_before["/api_key"]);
    assert_eq!(
        sealed_now["/credentials/client_secret"],
        sealed_before["/credentials/client_secret"]
    );

    // The same for a destination made from a connection template (organization access).
    let full = org.workspace(wid).unwrap();
    let destination = made.destinations[0].id;
    let mut read = full
        .get_destination(destination)
        .unwrap()
        .config
        .as_map()
        .clone();
    read.insert("bucket".into(), json!("acme-renamed"));
    full.update_destination(
        destination,
        &ConnectorUpdate {
            name: None,
            config: Some(ConnectorConfig::new(Value::Object(read)).unwrap()),
        },
    )
    .unwrap();
    let mut expected_destination = full_destination_config(DESTINATION_SECRET).as_map().clone();
    expected_destination.insert("bucket".into(), json!("acme-renamed"));
    assert_eq!(
        org.reveal_destination_config(wid, destination)
            .unwrap()
            .as_map(),
        &expected_destination
    );
    full.update_destination(
        destination,
        &ConnectorUpdate {
            name: None,
            config: Some(json_config(json!({"bucket": "acme-renamed",
                "access_key_id": "AKIA_VISIBLE_ID", "secret_access_key": "s3key_replaced"}))),
        },
    )
    .unwrap();
    expected_destination.insert("secret_access_key".into(), json!("s3key_replaced"));
    assert_eq!(
        org.reveal_destination_config(wid, destination)
            .unwrap()
            .as_map(),
        &expected_destination
    );
    assert_eq!(
        full.get_destination(destination).unwrap().config.as_map()["secret_access_key"],
        SECRET_MASK
    );

    // And for a template's default secrets: the mask keeps it, a value replaces it.
    let template = org.get_source_template(catalog.source).unwrap();
    let mut defaults = template.default_config.as_map().clone();
    assert_eq!(defaults["webhook_secret"], SECRET_MASK);
    defaults.insert("region".into(), json!("eu"));
    org.update_source_template(
        catalog.source,
        &SourceTemplateUpdate {
            default_config: Some(ConnectorConfig::new(Value::Object(defaults)).unwrap()),
            ..SourceTemplateUpdate::default()
        },
    )
    .unwrap();
    let kept = make_source(&ws, &catalog, "kept", "sk_2", "cs_2");
    let revealed = org.reveal_source_config(wid, kept.source.id).unwrap();
    assert_eq!(revealed.as_map()["webhook_secret"], TEMPLATE_WEBHOOK);
    assert_eq!(revealed.as_map()["region"], "eu");
    org.update_source_template(
        catalog.source,
        &SourceTemplateUpdate {
            default_config: Some(json_config(json!({"webhook_secret": "whsec_replaced"}))),
            ..SourceTemplateUpdate::default()
        },
    )
    .unwrap();
    let replaced = make_source(&ws, &catalog, "replaced", "sk_3", "cs_3");
    let revealed = org.reveal_source_config(wid, replaced.source.id).unwrap();
    assert_eq!(revealed.as_map()["webhook_secret"], "whsec_replaced");

    // A connection template's secret sent back masked is kept too (seen in a new workspace,
    // which gets its own destination).
    let ct = org.get_connection_template(catalog.connection).unwrap();
    let mut destination_config = ct.destination_config.as_map().clone();
    assert_eq!(destination_config["secret_access_key"], SECRET_MASK);
    destination_config.insert("bucket".into(), json!("acme-v2"));
    org.update_connection_template(
        catalog.connection,
        &ConnectionTemplateUpdate {
            destination_config: Some(
                ConnectorConfig::new(Value::Object(destination_config)).unwrap(),
            ),
            ..ConnectionTemplateUpdate::default()
        },
    )
    .unwrap();
    let (second, ws2) = catalog.customer(&db, "cust-2");
    let made2 = make_source(&ws2, &catalog, "s", "sk_4", "cs_4");
    let revealed = org
        .reveal_destination_config(second.workspace_id, made2.destinations[0].id)
        .unwrap();
    assert_eq!(revealed.as_map()["secret_access_key"], DESTINATION_SECRET);
    assert_eq!(revealed.as_map()["bucket"], "acme-v2");
}

#[test]
fn mask_where_no_secret_is_stored_is_refused_naming_its_pointer() {
    let db = Db::new();
    let catalog = Catalog::new(&db, "Acme");
    let org = &catalog.org;
    let (issued, ws) = catalog.customer(&db, "cust-1");

    // Creating a source with the mask for a secret it never had.
    assert_invalid(
        ws.create_source_from_template(from_template(
            catalog.source,
            "s",
            customer_config(SECRET_MASK, "cs_1"),
        )),
        "config at `/api_key`",
    );
    assert!(all_pages(10, |p| ws.list_sources(p)).is_empty());
    assert_eq!(raw_rows(&db, "sources"), 0);
    assert_eq!(raw_rows(&db, "destinations"), 0);

    // Updating a source with the mask for a nested secret it has no value for.
    let made = ws
        .create_source_from_template(from_template(
            catalog.source,
            "s",
            json!({"account_id": "acct_1", "api_key": "sk_1", "credentials": {"client_id": "c"}}),
        ))
        .unwrap();
    let stored = raw_secrets(&db, "sources", &uuid_like::source(made.source.id));
    let before = Contents::read(&ws);
    let err = ws
        .update_source(
            made.source.id,
            &ConnectorUpdate {
                name: None,
                config: Some(json_config(
                    json!({"account_id": "acct_1", "api_key": SECRET_MASK,
                    "credentials": {"client_id": "c", "client_secret": SECRET_MASK}}),
                )),
            },
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("`/credentials/client_secret`"),
        "{err}"
    );
    assert_invalid::<()>(Err(err), "config at `/credentials/client_secret`");
    assert_eq!(Contents::read(&ws), before);
    assert_eq!(
        raw_secrets(&db, "sources", &uuid_like::source(made.source.id)),
        stored
    );
    assert_eq!(
        org.reveal_source_config(issued.workspace_id, made.source.id)
            .unwrap()
            .as_map()["api_key"],
        "sk_1"
    );

    // Templates: a default that is the mask, with nothing behind it.
    assert_invalid(
        org.create_source_template(source_template(
            "Bad",
            json!({"webhook_secret": SECRET_MASK}),
            stripe_spec(),
            &[],
        )),
        "config at `/webhook_secret`",
    );
    assert_invalid(
        org.create_connection_template(connection_template(
            "Bad",
            "Bad",
            json!({"bucket": "b", "secret_access_key": SECRET_MASK}),
            s3_spec(),
            cron("0 * * * *"),
            &[],
        )),
        "config at `/secret_access_key`",
    );
    assert_invalid(
        org.update_source_template(
            catalog.source,
            &SourceTemplateUpdate {
                default_config: Some(json_config(json!({
                    "webhook_secret": SECRET_MASK,
                    "credentials": {"client_secret": SECRET_MASK}
                }))),
                ..SourceTemplateUpdate::default()
            },
        ),
        "config at `/credentials/client_secret`",
    );
    assert_eq!(org.list_source_templates(None).unwrap().len(), 1);
    assert_eq!(org.list_connection_templates(None).unwrap().len(), 1);
}

#[test]
fn template_default_secrets_flow_into_workspace_sources_sealed_and_are_masked_in_listings() {
    let db = Db::new();
    let catalog = Catalog::new(&db, "Acme");
    let org = &catalog.org;
    let (issued, ws) = catalog.customer(&db, "cust-1");

    // Masked wherever a template is read.
    let source_t = org.get_source_template(catalog.source).unwrap();
    assert_eq!(
        source_t.default_config,
        json_config(json!({"region": "us", "webhook_secret": SECRET_MASK}))
    );
    assert_eq!(
        org.list_source_templates(None).unwrap(),
        std::slice::from_ref(&source_t)
    );
    assert_eq!(ws.source_templates().unwrap(), [source_t]);
    let connection_t = org.get_connection_template(catalog.connection).unwrap();
    assert_eq!(
        connection_t.destination_config,
        full_destination_config(SECRET_MASK)
    );
    assert_eq!(ws.connection_templates().unwrap(), [connection_t]);

    // The customer leaves the default; the organization sees it in the source.
    let made = ws
        .create_source_from_template(from_template(
            catalog.source,
            "s",
            json!({"account_id": "acct_1", "api_key": "sk_1"}),
        ))
        .unwrap();
    assert_eq!(made.source.config.as_map()["webhook_secret"], SECRET_MASK);
    let revealed = org
        .reveal_source_config(issued.workspace_id, made.source.id)
        .unwrap();
    assert_eq!(revealed.as_map()["webhook_secret"], TEMPLATE_WEBHOOK);
    // Sealed again for this workspace and object: not the template's sealed bytes.
    let template_sealed: String = raw_connection(&db.path)
        .query_row("SELECT secrets FROM source_templates", [], |r| r.get(0))
        .unwrap();
    let source_sealed = raw_secrets(&db, "sources", &uuid_like::source(made.source.id));
    let template_sealed = sealed_map(&template_sealed);
    let source_sealed = sealed_map(&source_sealed);
    assert_eq!(
        template_sealed.keys().collect::<Vec<_>>(),
        ["/webhook_secret"]
    );
    assert_ne!(
        template_sealed["/webhook_secret"],
        source_sealed["/webhook_secret"]
    );
    assert_eq!(
        org.reveal_destination_config(issued.workspace_id, made.destinations[0].id)
            .unwrap(),
        full_destination_config(DESTINATION_SECRET)
    );

    // A customer's value overrides the default.
    let own = ws
        .create_source_from_template(from_template(
            catalog.source,
            "own",
            json!({"account_id": "acct_1", "api_key": "sk_1", "webhook_secret": "whsec_own"}),
        ))
        .unwrap();
    assert_eq!(
        org.reveal_source_config(issued.workspace_id, own.source.id)
            .unwrap()
            .as_map()["webhook_secret"],
        "whsec_own"
    );

    // A new default applies to new sources; existing ones keep theirs.
    org.update_source_template(
        catalog.source,
        &SourceTemplateUpdate {
            default_config: Some(json_config(
                json!({"region": "us", "webhook_secret": "whsec_v2"}),
            )),
            ..SourceTemplateUpdate::default()
        },
    )
    .unwrap();
    let later = ws
        .create_source_from_template(from_template(
            catalog.source,
            "later",
            json!({"account_id": "acct_1", "api_key": "sk_1"}),
        ))
        .unwrap();
    for (id, webhook) in [
        (made.source.id, TEMPLATE_WEBHOOK),
        (later.source.id, "whsec_v2"),
    ] {
        assert_eq!(
            org.reveal_source_config(issued.workspace_id, id)
                .unwrap()
                .as_map()["webhook_secret"],
            webhook
        );
    }
}

#[test]
fn unmarking_a_secret_in_a_template_spec_keeps_its_default_value() {
    let db = Db::new();
    let catalog = Catalog::new(&db, "Acme");
    let org = &catalog.org;
    let mut plain_spec = stripe_spec();
    plain_spec["properties"]["webhook_secret"] = json!({"type": "string"});
    org.update_source_template(
        catalog.source,
        &SourceTemplateUpdate {
            spec: Some(spec(plain_spec)),
            ..SourceTemplateUpdate::default()
        },
    )
    .unwrap();
    let mut plain_s3 = s3_spec();
    plain_s3["properties"]["secret_access_key"] = json!({"type": "string"});
    org.update_connection_template(
        catalog.connection,
        &ConnectionTemplateUpdate {
            destination_spec: Some(spec(plain_s3)),
            ..ConnectionTemplateUpdate::default()
        },
    )
    .unwrap();

    // A source made now still gets the template's values, never the mask as a value.
    let (issued, ws) = catalog.customer(&db, "cust-1");
    let made = ws
        .create_source_from_template(from_template(
            catalog.source,
            "s",
            json!({"account_id": "acct_1", "api_key": "sk_1"}),
        ))
        .unwrap();
    let revealed = org
        .reveal_source_config(issued.workspace_id, made.source.id)
        .unwrap();
    assert_eq!(revealed.as_map()["webhook_secret"], TEMPLATE_WEBHOOK);
    let revealed = org
        .reveal_destination_config(issued.workspace_id, made.destinations[0].id)
        .unwrap();
    assert_eq!(revealed.as_map()["secret_access_key"], DESTINATION_SECRET);

    // The customer sees the organization's values masked: in what the call returned, on
    // every read, and after an update that leaves them out.
    assert_eq!(made.source.config.as_map()["webhook_secret"], SECRET_MASK);
    assert_eq!(
        made.destinations[0].config.as_map()["secret_access_key"],
        SECRET_MASK
    );
    let source = ws.get_source(made.source.id).unwrap();
    assert_eq!(source.config.as_map()["webhook_secret"], SECRET_MASK);
    let destination = ws.get_destination(made.destinations[0].id).unwrap();
    assert_eq!(
        destination.config.as_map()["secret_access_key"],
        SECRET_MASK
    );
    let updated = ws
        .update_source(
            made.source.id,
            &ConnectorUpdate {
                config: Some(json_config(
                    json!({"account_id": "acct_1", "api_key": "sk_2"}),
                )),
                ..ConnectorUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(updated.config.as_map()["webhook_secret"], SECRET_MASK);
    for listed in all_pages(10, |p| ws.list_sources(p)) {
        assert_eq!(listed.config.as_map()["webhook_secret"], SECRET_MASK);
    }
    // And neither value is in the database file or its WAL in clear.
    let files = database_files(&db.path);
    for needle in [TEMPLATE_WEBHOOK, DESTINATION_SECRET] {
        assert_eq!(found_in(&files, needle.as_bytes()), None, "{needle}");
    }
}

#[test]
fn sealed_secret_copied_to_another_workspace_object_or_field_does_not_open() {
    let db = Db::new();
    let catalog = Catalog::new(&db, "Acme");
    let org = &catalog.org;
    let (a_issued, a) = catalog.customer(&db, "cust-a");
    let (b_issued, b) = catalog.customer(&db, "cust-b");
    let (wa, wb) = (a_issued.workspace_id, b_issued.workspace_id);
    let a1 = make_source(&a, &catalog, "a1", "sk_live_A_one", "cs_A_one");
    let a2 = make_source(&a, &catalog, "a2", "sk_live_A_two", "cs_A_two");
    let b1 = make_source(&b, &catalog, "b1", "sk_live_B_one", "cs_B_one");
    let a_secrets = ["sk_live_A_one", "cs_A_one", "sk_live_A_two", "cs_A_two"];
    let other_org = Catalog::new(&db, "Other");
    let (c_issued, c) = other_org.customer(&db, "cust-c");
    let c1 = make_source(&c, &other_org, "c1", "sk_live_C_one", "cs_C_one");

    let ids = |made: &SourceFromTemplate| uuid_like::source(made.source.id);
    let a1_stored = raw_secrets(&db, "sources", &ids(&a1));
    let b1_stored = raw_secrets(&db, "sources", &ids(&b1));
    // Control: everything opens where it belongs.
    org.reveal_source_config(wa, a1.source.id).unwrap();
    org.reveal_source_config(wb, b1.source.id).unwrap();

    // A's sealed secrets in B's source row (another workspace, another data key).
    set_raw_secrets(&db, "sources", &ids(&b1), &a1_stored);
    assert_crypto(org.reveal_source_config(wb, b1.source.id), &a_secrets);
    // In another organization's workspace.
    let c1_stored = raw_secrets(&db, "sources", &ids(&c1));
    set_raw_secrets(&db, "sources", &ids(&c1), &a1_stored);
    assert_crypto(
        other_org
            .org
            .reveal_source_config(c_issued.workspace_id, c1.source.id),
        &a_secrets,
    );
    // In another source of the same workspace: same data key, another object.
    let a2_stored = raw_secrets(&db, "sources", &ids(&a2));
    set_raw_secrets(&db, "sources", &ids(&a2), &a1_stored);
    assert_crypto(org.reveal_source_config(wa, a2.source.id), &a_secrets);
    // Under another field of the same row: each pointer's value in the other's place.
    let sealed = sealed_map(&a1_stored);
    let swapped = json!({
        "/api_key": sealed["/credentials/client_secret"],
        "/credentials/client_secret": sealed["/api_key"],
        "/webhook_secret": sealed["/webhook_secret"],
    });
    set_raw_secrets(&db, "sources", &ids(&a1), &swapped.to_string());
    assert_crypto(org.reveal_source_config(wa, a1.source.id), &a_secrets);
    let moved = json!({
        "/api_key": sealed["/api_key"],
        "/credentials/client_secret": sealed["/credentials/client_secret"],
        "/webhook_secret": sealed["/api_key"],
    });
    set_raw_secrets(&db, "sources", &ids(&a1), &moved.to_string());
    assert_crypto(org.reveal_source_config(wa, a1.source.id), &a_secrets);

    // A's data key and secrets both moved into B: the data key is bound to A.
    let a_dek = raw_sealed_dek(&db, wa).unwrap();
    let b_dek = raw_sealed_dek(&db, wb).unwrap();
    set_raw_secrets(&db, "sources", &ids(&b1), &a1_stored);
    raw_connection(&db.path)
        .execute(
            "UPDATE workspaces SET sealed_dek = ?2 WHERE id = ?1",
            rusqlite::params![wb.as_uuid().as_bytes().to_vec(), a_dek],
        )
        .unwrap();
    assert_crypto(org.reveal_source_config(wb, b1.source.id), &a_secrets);

    // Destinations alike.
    let a_dest = uuid_like::destination(a1.destinations[0].id);
    let b_dest = uuid_like::destination(b1.destinations[0].id);
    raw_connection(&db.path)
        .execute(
            "UPDATE workspaces SET sealed_dek = ?2 WHERE id = ?1",
            rusqlite::params![wb.as_uuid().as_bytes().to_vec(), b_dek],
        )
        .unwrap();
    let b_dest_stored = raw_secrets(&db, "destinations", &b_dest);
    set_raw_secrets(
        &db,
        "destinations",
        &b_dest,
        &raw_secrets(&db, "destinations", &a_dest),
    );
    assert_crypto(
        org.reveal_destination_config(wb, b1.destinations[0].id),
        &[DESTINATION_SECRET],
    );

    // Put back, everything opens again: the failures came from the moves alone.
    set_raw_secrets(&db, "sources", &ids(&a1), &a1_stored);
    set_raw_secrets(&db, "sources", &ids(&a2), &a2_stored);
    set_raw_secrets(&db, "sources", &ids(&b1), &b1_stored);
    set_raw_secrets(&db, "sources", &ids(&c1), &c1_stored);
    set_raw_secrets(&db, "destinations", &b_dest, &b_dest_stored);
    assert_eq!(
        org.reveal_source_config(wa, a1.source.id).unwrap(),
        full_source_config("sk_live_A_one", "cs_A_one", TEMPLATE_WEBHOOK)
    );
    assert_eq!(
        org.reveal_source_config(wa, a2.source.id).unwrap(),
        full_source_config("sk_live_A_two", "cs_A_two", TEMPLATE_WEBHOOK)
    );
    assert_eq!(
        org.reveal_source_config(wb, b1.source.id).unwrap(),
        full_source_config("sk_live_B_one", "cs_B_one", TEMPLATE_WEBHOOK)
    );
    other_org
        .org
        .reveal_source_config(c_issued.workspace_id, c1.source.id)
        .unwrap();
    assert_eq!(
        org.reveal_destination_config(wb, b1.destinations[0].id)
            .unwrap(),
        full_destination_config(DESTINATION_SECRET)
    );
    assert_eq!(db.engine.isolation_breaches(), 0);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The database file and whichever of its `-wal` and `-shm` files exist, read now.
fn database_files(path: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = vec![(path.to_owned(), std::fs::read(path).unwrap())];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let side = PathBuf::from(name);
        if let Ok(bytes) = std::fs::read(&side) {
            files.push((side, bytes));
        }
    }
    files
}

fn found_in(files: &[(PathBuf, Vec<u8>)], needle: &[u8]) -> Option<PathBuf> {
    files
        .iter()
        .find(|(_, bytes)| contains(bytes, needle))
        .map(|(p, _)| p.clone())
}

/// Copies the WAL into the database file and empties it.
fn checkpoint(path: &Path) {
    let (busy, _, _): (i64, i64, i64) = raw_connection(path)
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(busy, 0, "the checkpoint completed");
}

/// The columns of the `sources` table, for copying a row out and back.
const SOURCE_COLUMNS: &str = "id, org_id, workspace_id, name, connector, config, created_at, updated_at, template_id, secrets";

fn read_source_row(db: &Db, id: SourceId) -> Vec<rusqlite::types::Value> {
    raw_connection(&db.path)
        .query_row(
            &format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE id = ?1"),
            [id.as_uuid().as_bytes().to_vec()],
            |r| (0..10).map(|i| r.get(i)).collect(),
        )
        .unwrap()
}

#[test]
fn deleted_then_purged_workspace_leaves_no_rows_no_working_token_and_no_readable_secret() {
    let db = Db::new();
    let catalog = Catalog::new(&db, "Acme");
    let (a_issued, a) = catalog.customer(&db, "cust-a");
    let (b_issued, b) = catalog.customer(&db, "cust-b");
    let wa = a_issued.workspace_id;
    let made = make_source(&a, &catalog, "a", "sk_live_shredded_key", "cs_shredded");
    make_source(&b, &catalog, "b", "sk_live_kept_key", "cs_kept");
    let full_a = catalog.org.workspace(wa).unwrap();
    let run = full_a.start_sync(made.connections[0].id).unwrap();
    full_a
        .finish_sync(run.id, SyncOutcome::Succeeded { rows: 1, bytes: 2 })
        .unwrap();
    let revoked = catalog
        .org
        .scoped_token(&bulkhead::ScopedTokenRequest::new(ext("cust-a")))
        .unwrap();
    catalog.org.revoke_token(revoked.token.expose()).unwrap();
    let b_before = Contents::read(&b);

    // Saved before deletion, as a backup would hold them.
    let sealed_dek = raw_sealed_dek(&db, wa).expect("the workspace has a data key");
    let source_row = read_source_row(&db, made.source.id);
    let b_dek = raw_sealed_dek(&db, b_issued.workspace_id).unwrap();
    // Checkpointed into the database file, as a long-lived database would have it.
    checkpoint(&db.path);
    let files = database_files(&db.path);
    assert!(
        found_in(&files[..1], &sealed_dek).is_some(),
        "control: the key is in the file"
    );

    catalog.org.delete_workspace(wa).unwrap();
    // A tombstone until purged: invisible, and its secrets still sealed in the file.
    assert_not_found(catalog.org.get_workspace(wa), ObjectKind::Workspace, wa);
    assert!(a.workspace().unwrap_err().is_not_found());
    assert!(raw_sealed_dek(&db, wa).is_some());
    catalog.org.purge_workspace(wa).unwrap();

    // With the store still open (no close to checkpoint for it): the purge checkpointed, so
    // the data key's sealed bytes are in neither the database file nor its WAL.
    let files = database_files(&db.path);
    assert!(
        files.len() >= 2,
        "the database runs in WAL mode, with a -wal file"
    );
    assert_eq!(
        found_in(&files, &sealed_dek),
        None,
        "the shredded data key is still in the files of the open database"
    );
    // Control: a live workspace's data key is found where it is stored.
    assert!(found_in(&files, &b_dek).is_some());

    // Gone from every organization read.
    assert_not_found(catalog.org.get_workspace(wa), ObjectKind::Workspace, wa);
    assert!(catalog.org.workspace(wa).unwrap_err().is_not_found());
    assert!(
        all_workspaces(&catalog.org, &WorkspaceFilter::default(), 10)
            .iter()
            .all(|w| w.id != wa)
    );
    assert!(
        catalog
            .org
            .reveal_source_config(wa, made.source.id)
            .unwrap_err()
            .is_not_found()
    );
    assert!(catalog.org.delete_workspace(wa).unwrap_err().is_not_found());
    assert!(catalog.org.purge_workspace(wa).unwrap_err().is_not_found());
    // Its token is refused; a scope held from before reads nothing.
    assert!(
        db.engine
            .authenticate(a_issued.token.expose())
            .unwrap_err()
            .is_not_found()
    );
    assert!(a.workspace().unwrap_err().is_not_found());
    assert!(a.get_source(made.source.id).unwrap_err().is_not_found());
    assert!(
        a.get_destination(made.destinations[0].id)
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        a.get_connection(made.connections[0].id)
            .unwrap_err()
            .is_not_found()
    );
    // Its listings are refused too, as before the purge: the workspace is not found.
    assert!(a.list_sources(&Page::first(10)).unwrap_err().is_not_found());
    assert!(
        a.list_destinations(&Page::first(10))
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        a.list_connections(&Page::first(10))
            .unwrap_err()
            .is_not_found()
    );
    assert!(a.source_templates().unwrap_err().is_not_found());
    assert!(
        a.create_source_from_template(from_template(
            catalog.source,
            "x",
            customer_config("k", "s")
        ))
        .unwrap_err()
        .is_not_found()
    );
    // No row of it remains anywhere in the file.
    let raw = raw_connection(&db.path);
    for table in [
        "sources",
        "destinations",
        "connections",
        "sync_runs",
        "revoked_tokens",
    ] {
        let n: i64 = raw
            .query_row(
                &format!("SELECT count(*) FROM {table} WHERE workspace_id = ?1"),
                [wa.as_uuid().as_bytes().to_vec()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    let row: i64 = raw
        .query_row(
            "SELECT count(*) FROM workspaces WHERE id = ?1",
            [wa.as_uuid().as_bytes().to_vec()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(row, 0, "workspaces");
    drop(raw);
    // The other workspace is untouched.
    assert_eq!(Contents::read(&b), b_before);
    catalog
        .org
        .reveal_source_config(b_issued.workspace_id, b_before.sources[0].id)
        .unwrap();

    // Closed as well: the data key's sealed bytes are still nowhere in the files.
    let Db {
        dir,
        path,
        clock,
        engine,
    } = db;
    drop((a, b, full_a, catalog, engine));
    let files = database_files(&path);
    assert_eq!(
        found_in(&files, &sealed_dek),
        None,
        "the shredded data key is still stored"
    );
    // Control: a live workspace's data key is found where it is stored.
    assert!(found_in(&files, &b_dek).is_some());

    // A backup of the source row, restored under a workspace with the same id, never opens.
    let engine = Engine::open(&path, config(&clock)).unwrap();
    let db = Db {
        dir,
        path,
        clock,
        engine,
    };
    let org = db.engine.operator_org_scope(made.source.org_id).unwrap();
    // The same external id gets a new, empty workspace.
    let (again, fresh) = customer(&db, &org, "cust-a", None, None);
    assert_ne!(again.workspace_id, wa);
    assert!(again.workspace_created);
    assert!(
        fresh
            .list_sources(&Page::first(10))
            .unwrap()
            .items
            .is_empty()
    );
    let raw = raw_connection(&db.path);
    raw.execute(
        "INSERT INTO workspaces (id, org_id, external_id, name, status, created_at, updated_at)
         VALUES (?1, ?2, 'restored', 'restored', 'active', 0, 0)",
        rusqlite::params![
            wa.as_uuid().as_bytes().to_vec(),
            made.source.org_id.as_uuid().as_bytes().to_vec()
        ],
    )
    .unwrap();
    raw.execute(
        &format!("INSERT INTO sources ({SOURCE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
        rusqlite::params_from_iter(source_row.iter()),
    )
    .unwrap();
    drop(raw);
    let restored = org.workspace(wa).unwrap();
    assert_eq!(
        restored.get_source(made.source.id).unwrap().config,
        masked_source_config()
    );
    assert_crypto(
        org.reveal_source_config(wa, made.source.id),
        &["sk_live_shredded_key", "cs_shredded"],
    );
    // The restored workspace got a new data key on first use; the old one, the only key
    // that opened the row, is in no file any more (above).
    assert_ne!(raw_sealed_dek(&db, wa), Some(sealed_dek));
}

/// Every secret of every source and destination of `scopes`, revealed by `org`.
fn reveal_all(org: &OrgScope, scopes: &[&WorkspaceScope]) -> BTreeMap<String, ConnectorConfig> {
    let mut out = BTreeMap::new();
    for ws in scopes {
        let wid = ws.workspace_id();
        for s in all_pages(10, |p| ws.list_sources(p)) {
            out.insert(
                format!("source {}", s.id),
                org.reveal_source_config(wid, s.id).unwrap(),
            );
        }
        for d in all_pages(10, |p| ws.list_destinations(p)) {
            out.insert(
                format!("destination {}", d.id),
                org.reveal_destination_config(wid, d.id).unwrap(),
            );
        }
    }
    out
}

/// Sealed values, read outside the engine.
struct RawSealed {
    /// The `secrets` column of every source and destination, by id.
    fields: BTreeMap<Vec<u8>, String>,
    /// The sealed data key of every workspace that has one, by id.
    deks: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The `secrets` column of every template.
    templates: Vec<String>,
}

fn raw_sealed(db: &Db) -> RawSealed {
    let raw = raw_connection(&db.path);
    let mut fields = BTreeMap::new();
    for table in ["sources", "destinations"] {
        let mut stmt = raw
            .prepare(&format!("SELECT id, secrets FROM {table}"))
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
            })
            .unwrap();
        for row in rows {
            let (id, secrets) = row.unwrap();
            fields.insert(id, secrets);
        }
    }
    let mut stmt = raw
        .prepare("SELECT id, sealed_dek FROM workspaces WHERE sealed_dek IS NOT NULL")
        .unwrap();
    let deks = stmt
        .query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let mut templates = Vec::new();
    for table in ["source_templates", "connection_templates"] {
        let mut stmt = raw
            .prepare(&format!("SELECT secrets FROM {table} ORDER BY id"))
            .unwrap();
        templates.extend(
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .map(|r| r.unwrap()),
        );
    }
    RawSealed {
        fields,
        deks,
        templates,
    }
}

#[test]
fn master_key_rotation_keeps_every_secret_readable_and_reseals_only_data_keys() {
    let db = Db::new();
    let catalog = Catalog::new(&db, "Acme");
    let eddsa = db.eddsa_org("Edwards");
    let (a_issued, a) = catalog.customer(&db, "cust-a");
    let (b_issued, b) = catalog.customer(&db, "cust-b");
    make_source(&a, &catalog, "a1", "sk_live_rot_a1", "cs_rot_a1");
    db.tick();
    make_source(&a, &catalog, "a2", "sk_live_rot_a2", "cs_rot_a2");
    make_source(&b, &catalog, "b1", "sk_live_rot_b1", "cs_rot_b1");
    let ed_issued = common::issue(&eddsa, "cust-e");
    let org_id = catalog.org.org_id();
    let revealed = reveal_all(&catalog.org, &[&a, &b]);
    assert_eq!(revealed.len(), 5, "three sources, two destinations");
    let RawSealed {
        fields,
        deks,
        templates,
    } = raw_sealed(&db);
    assert_eq!(deks.len(), 2);
    assert_eq!(templates.iter().filter(|t| *t != "{}").count(), 2);
    let old_fingerprint = MasterKey::load_file(&default_key_file(&db.path))
        .unwrap()
        .fingerprint()
        .to_owned();

    let new_key = MasterKey::generate().unwrap();
    let exported = new_key.export_base64();
    let new_fingerprint = new_key.fingerprint().to_owned();
    let resealed = db.engine.rotate_master_key(new_key).unwrap();
    // Two data keys, two signing keys, two templates with secrets.
    assert_eq!(resealed, 6);

    // Every secret reads the same; old tokens work; new ones are minted.
    assert_eq!(reveal_all(&catalog.org, &[&a, &b]), revealed);
    for issued in [&a_issued, &b_issued, &ed_issued] {
        db.engine.authenticate(issued.token.expose()).unwrap();
    }
    for org in [&catalog.org, &eddsa] {
        let fresh = common::issue(org, "cust-new");
        db.engine.authenticate(fresh.token.expose()).unwrap();
    }
    // Template secrets open under the new key: a new workspace gets both defaults.
    let (c_issued, c) = catalog.customer(&db, "cust-c");
    let made = make_source(&c, &catalog, "c1", "sk_live_rot_c1", "cs_rot_c1");
    assert_eq!(
        catalog
            .org
            .reveal_source_config(c_issued.workspace_id, made.source.id)
            .unwrap(),
        full_source_config("sk_live_rot_c1", "cs_rot_c1", TEMPLATE_WEBHOOK)
    );
    assert_eq!(
        catalog
            .org
            .reveal_destination_config(c_issued.workspace_id, made.destinations[0].id)
            .unwrap(),
        full_destination_config(DESTINATION_SECRET)
    );

    // Secret fields kept their sealed bytes; data keys and template secrets were re-sealed.
    let RawSealed {
        fields: fields_after,
        deks: deks_after,
        templates: templates_after,
    } = raw_sealed(&db);
    for (id, sealed) in &fields {
        assert_eq!(&fields_after[id], sealed, "a secret field was re-sealed");
    }
    for (ws, dek) in &deks {
        assert_ne!(&deks_after[ws], dek, "a data key was not re-sealed");
    }
    for (before, after) in templates.iter().zip(&templates_after) {
        if before != "{}" {
            assert_ne!(before, after, "template secrets were not re-sealed");
            assert_eq!(
                sealed_map(before).keys().collect::<Vec<_>>(),
                sealed_map(after).keys().collect::<Vec<_>>()
            );
        }
    }

    // Reopened: the old key is refused, naming it; the new key opens everything.
    let Db {
        dir,
        path,
        clock,
        engine,
    } = db;
    let revealed = reveal_all(&catalog.org, &[&a, &b, &c]);
    drop((a, b, c, catalog, eddsa, engine));
    match Engine::open(&path, config(&clock)) {
        Err(Error::Crypto { reason }) => {
            assert!(reason.contains(&old_fingerprint), "{reason}");
            assert!(!reason.contains(&exported));
        }
        other => panic!("the old key must be refused, got {other:?}"),
    }
    let new_key = MasterKey::from_base64(&exported, "BULKHEAD_MASTER_KEY").unwrap();
    assert_eq!(new_key.fingerprint(), new_fingerprint);
    let engine = Engine::open(&path, config(&clock).with_master_key(new_key)).unwrap();
    let check = |engine: &Engine| {
        let org = engine.operator_org_scope(org_id).unwrap();
        let scopes: Vec<WorkspaceScope> = [&a_issued, &b_issued, &c_issued]
            .iter()
            .map(|i| engine.authenticate(i.token.expose()).unwrap())
            .collect();
        let refs: Vec<&WorkspaceScope> = scopes.iter().collect();
        assert_eq!(reveal_all(&org, &refs), revealed);
        engine.authenticate(ed_issued.token.expose()).unwrap();
        let fresh = common::issue(&org, "cust-after");
        engine.authenticate(fresh.token.expose()).unwrap();
    };
    check(&engine);
    drop(engine);

    // The new key in the default key file, in place of the old one.
    let key_file = default_key_file(&path);
    std::fs::remove_file(&key_file).unwrap();
    write_key_file(&key_file, &exported);
    let engine = Engine::open(&path, config(&clock)).unwrap();
    check(&engine);
    drop((engine, dir));
}

/// Writes `base64` to a new key file readable by its owner only.
fn write_key_file(path: &Path, base64: &str) {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).unwrap();
    writeln!(file, "{base64}").unwrap();
}

/// Distinctive secrets to look for, in every form they could be stored in.
#[derive(Default)]
struct Needles(Vec<(String, Vec<u8>)>);

impl Needles {
    fn add(&mut self, what: String, bytes: Vec<u8>) {
        assert!(
            bytes.len() >= 16,
            "{what}: a needle this short could match by chance"
        );
        self.0.push((what, bytes));
    }

    /// `secret` raw, as a JSON string, and base64-encoded at each alignment (the middle of
    /// its encoding, which appears whatever bytes surround it).
    fn secret(&mut self, secret: &str) {
        self.add(format!("`{secret}`"), secret.as_bytes().to_vec());
        let quoted = serde_json::to_vec(secret).unwrap();
        for (form, plain) in [("raw", secret.as_bytes().to_vec()), ("JSON", quoted)] {
            for engine in [&STANDARD, &URL_SAFE] {
                for offset in 0..3 {
                    let mut padded = vec![0u8; offset];
                    padded.extend_from_slice(&plain);
                    let encoded = engine.encode(&padded);
                    let skip = if offset == 0 { 0 } else { 4 };
                    let middle = &encoded[skip..encoded.len() - 4];
                    self.add(
                        format!("`{secret}` ({form}, base64 at offset {offset})"),
                        middle.as_bytes().to_vec(),
                    );
                }
            }
            for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
                let encoded = engine.encode(&plain);
                self.add(
                    format!("`{secret}` ({form}, whole base64)"),
                    encoded.into_bytes(),
                );
            }
        }
    }

    #[track_caller]
    fn assert_absent(&self, files: &[(PathBuf, Vec<u8>)]) {
        for (what, needle) in &self.0 {
            if let Some(path) = found_in(files, needle) {
                panic!("{what} is in {} in clear", path.display());
            }
        }
    }
}

#[test]
fn database_file_and_wal_never_hold_a_plaintext_secret() {
    let db = Db::new();
    let org = db.org("Acme");
    let template_default = "whsec_UNIQUE_template_default_5b7f03";
    let template_updated = "whsec_UNIQUE_template_updated_8c4e19";
    let destination_secret = "s3key_UNIQUE_destination_secret_2d9a61";
    let destination_updated = "s3key_UNIQUE_destination_updated_6f1b88";
    let customer_key = "sk_live_UNIQUE_customer_api_key_9e2c47";
    let customer_nested = "cs_live_UNIQUE_customer_nested_3a8d52";
    let customer_updated = "sk_live_UNIQUE_customer_updated_7d3f20";
    let customer_override = "whsec_UNIQUE_customer_override_1c6e94";
    let visible = "acct_VISIBLE_control_value_4f8a13";

    let source_t = org
        .create_source_template(source_template(
            "Stripe",
            json!({"region": "us", "webhook_secret": template_default}),
            stripe_spec(),
            &[],
        ))
        .unwrap();
    let connection_t = org
        .create_connection_template(connection_template(
            "Stripe to S3",
            "S3 bucket",
            json!({"bucket": "acme", "secret_access_key": destination_secret}),
            s3_spec(),
            cron("0 * * * *"),
            &[],
        ))
        .unwrap();
    let (issued, ws) = customer(&db, &org, "cust-1", None, None);
    let wid = issued.workspace_id;
    let first = ws
        .create_source_from_template(from_template(
            source_t.id,
            "first",
            json!({"account_id": visible, "api_key": customer_key,
                   "credentials": {"client_id": "c", "client_secret": customer_nested}}),
        ))
        .unwrap();
    let second = ws
        .create_source_from_template(from_template(
            source_t.id,
            "second",
            json!({"account_id": visible, "api_key": customer_key,
                   "webhook_secret": customer_override}),
        ))
        .unwrap();
    // Updates: a source's secret replaced, a template's defaults replaced.
    ws.update_source(
        first.source.id,
        &ConnectorUpdate {
            name: None,
            config: Some(json_config(
                json!({"account_id": visible, "api_key": customer_updated,
                "credentials": {"client_id": "c", "client_secret": SECRET_MASK}}),
            )),
        },
    )
    .unwrap();
    org.update_source_template(
        source_t.id,
        &SourceTemplateUpdate {
            default_config: Some(json_config(json!({"webhook_secret": template_updated}))),
            ..SourceTemplateUpdate::default()
        },
    )
    .unwrap();
    org.update_connection_template(
        connection_t.id,
        &ConnectionTemplateUpdate {
            destination_config: Some(json_config(
                json!({"bucket": "acme", "secret_access_key": destination_updated}),
            )),
            ..ConnectionTemplateUpdate::default()
        },
    )
    .unwrap();
    let full = org.workspace(wid).unwrap();
    let destination: &Destination = &first.destinations[0];
    full.update_destination(
        destination.id,
        &ConnectorUpdate {
            name: None,
            config: Some(json_config(
                json!({"bucket": "acme", "secret_access_key": SECRET_MASK}),
            )),
        },
    )
    .unwrap();
    let (other_issued, other) = customer(&db, &org, "cust-2", None, None);
    let third = other
        .create_source_from_template(from_template(
            source_t.id,
            "third",
            json!({"account_id": visible, "api_key": customer_key}),
        ))
        .unwrap();

    // Revealed, each where it belongs.
    let reveal = |w: WorkspaceId, id: SourceId, pointer: &str| -> Value {
        org.reveal_source_config(w, id)
            .unwrap()
            .to_json()
            .parse::<Value>()
            .unwrap()
            .pointer(pointer)
            .unwrap()
            .clone()
    };
    assert_eq!(reveal(wid, first.source.id, "/api_key"), customer_updated);
    assert_eq!(
        reveal(wid, first.source.id, "/credentials/client_secret"),
        customer_nested
    );
    assert_eq!(
        reveal(wid, first.source.id, "/webhook_secret"),
        template_default
    );
    assert_eq!(
        reveal(wid, second.source.id, "/webhook_secret"),
        customer_override
    );
    assert_eq!(
        reveal(
            other_issued.workspace_id,
            third.source.id,
            "/webhook_secret"
        ),
        template_updated
    );
    let destination_revealed = |w: WorkspaceId, id: DestinationId| {
        org.reveal_destination_config(w, id).unwrap().as_map()["secret_access_key"].clone()
    };
    assert_eq!(
        destination_revealed(wid, destination.id),
        destination_secret
    );
    assert_eq!(
        destination_revealed(other_issued.workspace_id, third.destinations[0].id),
        destination_updated
    );

    let mut needles = Needles::default();
    for secret in [
        template_default,
        template_updated,
        destination_secret,
        destination_updated,
        customer_key,
        customer_nested,
        customer_updated,
        customer_override,
    ] {
        needles.secret(secret);
    }

    // Engine open: the WAL holds the recent writes.
    let open = database_files(&db.path);
    assert!(
        open.iter()
            .any(|(p, b)| p.to_string_lossy().ends_with("-wal") && !b.is_empty()),
        "the database runs in WAL mode"
    );
    // Control: a visible value is found, so the search reads where the data is.
    assert!(found_in(&open, visible.as_bytes()).is_some());
    needles.assert_absent(&open);

    // Closed: everything checkpointed into the database file.
    let Db {
        dir,
        path,
        clock,
        engine,
    } = db;
    drop((ws, other, full, org, engine));
    let closed = database_files(&path);
    assert!(found_in(&closed[..1], visible.as_bytes()).is_some());
    needles.assert_absent(&closed);
    drop((dir, clock));
}

#[test]
fn sources_and_destinations_made_outside_templates_have_no_secrets_to_reveal() {
    let db = Db::new();
    let org = db.org("Acme");
    let (issued, _) = customer(&db, &org, "cust-1", None, None);
    let full = org.workspace(issued.workspace_id).unwrap();
    let source: Source = full.create_source(common::new_source("raw")).unwrap();
    let destination = full
        .create_destination(common::new_destination("raw"))
        .unwrap();
    assert_eq!(
        org.reveal_source_config(issued.workspace_id, source.id)
            .unwrap(),
        source.config
    );
    assert_eq!(
        org.reveal_destination_config(issued.workspace_id, destination.id)
            .unwrap(),
        destination.config
    );
    assert_eq!(
        raw_secrets(&db, "sources", &uuid_like::source(source.id)),
        "{}"
    );
}

/// A customer form posts back the template's default as the listing showed it, secret masked:
/// the mask stands for the template's default secret, which the new source gets, sealed.
#[test]
fn template_default_sent_back_masked_keeps_the_default_secret() {
    let db = Db::new();
    let catalog = Catalog::new(&db, "Acme");
    let org = &catalog.org;
    let (issued, ws) = catalog.customer(&db, "cust-1");
    let listed = ws.source_templates().unwrap().remove(0);
    let mut posted = listed.default_config.as_map().clone();
    assert_eq!(posted["webhook_secret"], SECRET_MASK);
    posted.insert("account_id".into(), json!("acct_1"));
    posted.insert("api_key".into(), json!("sk_1"));
    let made = ws
        .create_source_from_template(from_template(
            catalog.source,
            "s",
            serde_json::Value::Object(posted),
        ))
        .unwrap();
    let revealed = org
        .reveal_source_config(issued.workspace_id, made.source.id)
        .unwrap();
    assert_eq!(revealed.as_map()["webhook_secret"], TEMPLATE_WEBHOOK);
}

fn config_update(config: Value) -> ConnectorUpdate {
    ConnectorUpdate {
        name: None,
        config: Some(json_config(config)),
    }
}

#[test]
fn a_customer_cannot_send_the_organizations_template_secret_elsewhere() {
    let db = Db::new();
    let catalog = Catalog::new(&db, "Acme");
    let (issued, ws) = catalog.customer(&db, "cust-1");
    let made = make_source(&ws, &catalog, "Stripe", "sk_live_own", "cs_own");
    let source = made.source.id;
    let before = catalog
        .org
        .reveal_source_config(issued.workspace_id, source)
        .unwrap();

    // The webhook secret is the template's: moving the source to another account (or region)
    // while keeping it, sent back masked or left out, is refused, naming the field.
    let mut elsewhere = customer_config(SECRET_MASK, SECRET_MASK);
    elsewhere["account_id"] = json!("acct_ATTACKER");
    elsewhere["webhook_secret"] = json!(SECRET_MASK);
    assert_invalid(
        ws.update_source(source, &config_update(elsewhere.clone())),
        "config at `/account_id`",
    );
    elsewhere.as_object_mut().unwrap().remove("webhook_secret");
    assert_invalid(
        ws.update_source(source, &config_update(elsewhere.clone())),
        "config at `/account_id`",
    );
    let mut region = customer_config(SECRET_MASK, SECRET_MASK);
    region["region"] = json!("eu");
    assert_invalid(
        ws.update_source(source, &config_update(region)),
        "config at `/region`",
    );
    assert_eq!(
        catalog
            .org
            .reveal_source_config(issued.workspace_id, source)
            .unwrap(),
        before,
        "nothing changed"
    );

    // The customer's own secrets are credentials, not places: they may change.
    ws.update_source(
        source,
        &config_update(customer_config("sk_live_rotated", SECRET_MASK)),
    )
    .unwrap();

    // With a webhook secret of their own, the customer may point the source anywhere.
    elsewhere["webhook_secret"] = json!("whsec_customer_own");
    let moved = ws
        .update_source(source, &config_update(elsewhere.clone()))
        .unwrap();
    assert_eq!(moved.config.as_map()["account_id"], "acct_ATTACKER");
    let revealed = catalog
        .org
        .reveal_source_config(issued.workspace_id, source)
        .unwrap();
    assert_eq!(revealed.as_map()["webhook_secret"], "whsec_customer_own");
    assert_eq!(revealed.as_map()["api_key"], "sk_live_rotated");
    // Now every secret is the customer's: later changes are theirs to make.
    elsewhere["account_id"] = json!("acct_again");
    elsewhere["webhook_secret"] = json!(SECRET_MASK);
    ws.update_source(source, &config_update(elsewhere)).unwrap();

    // The organization may change anything of its customers' sources.
    let mut org_change = customer_config(SECRET_MASK, SECRET_MASK);
    org_change["account_id"] = json!("acct_org_choice");
    catalog
        .org
        .workspace(issued.workspace_id)
        .unwrap()
        .update_source(source, &config_update(org_change))
        .unwrap();
}

#[test]
fn a_destination_made_from_a_connection_template_is_read_only_to_customers() {
    let db = Db::new();
    let catalog = Catalog::new(&db, "Acme");
    // A token granting every workspace operation: still not enough.
    let issued = catalog
        .org
        .scoped_token(&bulkhead::ScopedTokenRequest {
            operations: Some(bulkhead::OperationSet::all()),
            ..bulkhead::ScopedTokenRequest::new(ext("cust-1"))
        })
        .unwrap();
    let ws = db.engine.authenticate(issued.token.expose()).unwrap();
    let made = make_source(&ws, &catalog, "Stripe", "sk_live_own", "cs_own");
    let destination = made.destinations[0].id;
    let before = catalog
        .org
        .reveal_destination_config(issued.workspace_id, destination)
        .unwrap();

    // Read, masked.
    let read = ws.get_destination(destination).unwrap();
    assert_eq!(read.config.as_map()["secret_access_key"], SECRET_MASK);
    // Not changed, not even renamed, not deleted (its connection removed first).
    let denied = |result: Result<()>, operation: &str| match result {
        Err(Error::PermissionDenied { operation: got, .. }) => assert_eq!(got, operation),
        other => panic!("expected permission denied, got {other:?}"),
    };
    let mut redirect = read.config.as_map().clone();
    redirect.insert("bucket".into(), json!("attacker-bucket"));
    denied(
        ws.update_destination(destination, &config_update(Value::Object(redirect)))
            .map(drop),
        "destinations:update",
    );
    denied(
        ws.update_destination(
            destination,
            &ConnectorUpdate {
                name: Some("mine now".parse().unwrap()),
                config: None,
            },
        )
        .map(drop),
        "destinations:update",
    );
    ws.delete_connection(made.connections[0].id).unwrap();
    denied(ws.delete_destination(destination), "destinations:delete");
    assert_eq!(
        catalog
            .org
            .reveal_destination_config(issued.workspace_id, destination)
            .unwrap(),
        before
    );
    // The refusals are audited.
    let denials = catalog
        .org
        .audit_events(
            &bulkhead::AuditFilter {
                workspace_id: Some(issued.workspace_id),
                ..bulkhead::AuditFilter::default()
            },
            &Page::first(100),
        )
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.draft.outcome == "denied: destination belongs to the organization")
        .count();
    assert!(denials >= 1, "no denial audited");

    // The organization may.
    let full = catalog.org.workspace(issued.workspace_id).unwrap();
    full.update_destination(
        destination,
        &ConnectorUpdate {
            name: Some("renamed by the organization".parse().unwrap()),
            config: None,
        },
    )
    .unwrap();
    full.delete_destination(destination).unwrap();
}
