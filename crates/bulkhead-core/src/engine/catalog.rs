//! The organization's catalog (tags, source templates, connection templates) and what a
//! workspace sees of it.
//!
//! Template secrets (fields the spec marks `airbyte_secret`) are sealed under the master key,
//! bound to the organization, the template and the field. When a workspace uses a template,
//! they are opened, merged with the customer's configuration and sealed again under that
//! workspace's data key, bound to the new object.
//!
//! This module holds what both scopes share: the templates as stored, read through the
//! guard, sealed and opened, and the defaults a workspace's object takes from its template.
//! The organization's calls are in `engine/org/catalog.rs`; what a workspace sees, and the
//! objects it makes from templates, in `engine/workspace/templates.rs`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::crypto::secrets::{SealedSecrets, reveal_fields, seal_fields, template_secret_aad};
use crate::engine::shared::Inner;
use crate::error::{Error, Result, StorageError};
use crate::model::ids::{ConnectionTemplateId, SourceTemplateId};
use crate::model::names::{Connector, ConnectorConfig, Name, Schedule};
use crate::model::spec::{ConfigSpec, SECRET_MASK};
use crate::model::templates::{ConnectionTemplate, SourceTemplate};
use crate::port::store::{EndpointKind, EndpointRow, TemplateKind, TemplateRow};
use crate::port::tenant::OrgCtx;

/// The kind-specific fields of a source template, as stored in its `body`.
#[derive(Serialize, Deserialize)]
pub(in crate::engine) struct SourceBody {
    pub(in crate::engine) connector: Connector,
    pub(in crate::engine) default_config: Map<String, Value>,
    pub(in crate::engine) spec: Value,
}

/// The kind-specific fields of a connection template, as stored in its `body`.
#[derive(Serialize, Deserialize)]
pub(in crate::engine) struct ConnectionBody {
    pub(in crate::engine) destination_name: Name,
    pub(in crate::engine) destination_connector: Connector,
    pub(in crate::engine) destination_config: Map<String, Value>,
    pub(in crate::engine) destination_spec: Value,
    pub(in crate::engine) schedule: String,
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Storage(StorageError::new(format!(
        "a stored template is invalid: {e}"
    )))
}

pub(in crate::engine) fn encode<T: Serialize>(body: &T) -> Result<String> {
    serde_json::to_string(body).map_err(corrupt)
}

pub(in crate::engine) fn config(map: Map<String, Value>) -> Result<ConnectorConfig> {
    ConnectorConfig::new(Value::Object(map))
}

pub(in crate::engine) fn source_template(row: &TemplateRow) -> Result<SourceTemplate> {
    let body: SourceBody = serde_json::from_str(&row.body).map_err(corrupt)?;
    Ok(SourceTemplate {
        id: SourceTemplateId::from_uuid(row.id)?,
        org_id: row.org_id,
        name: row.name.clone(),
        connector: body.connector,
        default_config: config(body.default_config)?,
        spec: ConfigSpec::parse(body.spec).map_err(corrupt)?,
        tags: row.tags.clone(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub(in crate::engine) fn connection_template(row: &TemplateRow) -> Result<ConnectionTemplate> {
    let body: ConnectionBody = serde_json::from_str(&row.body).map_err(corrupt)?;
    Ok(ConnectionTemplate {
        id: ConnectionTemplateId::from_uuid(row.id)?,
        org_id: row.org_id,
        name: row.name.clone(),
        destination_name: body.destination_name,
        destination_connector: body.destination_connector,
        destination_config: config(body.destination_config)?,
        destination_spec: ConfigSpec::parse(body.destination_spec).map_err(corrupt)?,
        schedule: Schedule::parse(&body.schedule).map_err(corrupt)?,
        tags: row.tags.clone(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Organization-level reads and sealing of templates, shared by both scopes.
pub(in crate::engine) struct Catalog<'a> {
    pub(in crate::engine) inner: &'a Inner,
    pub(in crate::engine) org: OrgCtx,
}

impl Catalog<'_> {
    pub(in crate::engine) fn rows(&self, kind: TemplateKind) -> Result<Vec<TemplateRow>> {
        self.inner.org_rows(&self.org).templates(kind)
    }

    pub(in crate::engine) fn row(
        &self,
        kind: TemplateKind,
        id: Uuid,
    ) -> Result<Option<TemplateRow>> {
        self.inner.org_rows(&self.org).template(kind, id)
    }

    /// Seals the secret fields of a template's configuration under the master key.
    ///
    /// The fields sealed before (`current`) stay secret even if the new spec no longer marks
    /// them, as for a workspace's objects: otherwise their value would be dropped and the mask
    /// left in its place as if it were the value.
    pub(in crate::engine) fn seal(
        &self,
        template: Uuid,
        config: &mut Map<String, Value>,
        spec: &ConfigSpec,
        current: Option<&SealedSecrets>,
    ) -> Result<SealedSecrets> {
        let master = self.inner.master_key();
        let org = self.org.org_id();
        let mut pointers: BTreeSet<String> = spec.secret_pointers().into_iter().collect();
        if let Some(current) = current {
            pointers.extend(current.pointers().map(str::to_owned));
        }
        let pointers: Vec<String> = pointers.into_iter().collect();
        seal_fields(config, &pointers, current, |pointer, plain| {
            master.seal(plain, &template_secret_aad(org, template, pointer))
        })
    }

    /// A template's configuration with its secrets opened.
    pub(in crate::engine) fn reveal(
        &self,
        row: &TemplateRow,
        config: &Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        let master = self.inner.master_key();
        let org = self.org.org_id();
        reveal_fields(config, &row.secrets, |pointer, sealed| {
            master.open(sealed, &template_secret_aad(org, row.id, pointer))
        })
    }

    /// For a stored source or destination made from a template: the template's spec, its
    /// default configuration (secrets opened) and the pointers of its secrets. `None` if the
    /// template is gone.
    pub(in crate::engine) fn defaults_for(&self, row: &EndpointRow) -> Result<Option<Defaults>> {
        let Some(id) = row.template_id else {
            return Ok(None);
        };
        match row.kind {
            EndpointKind::Source => {
                let Some(t) = self.row(TemplateKind::Source, id)? else {
                    return Ok(None);
                };
                let template = source_template(&t)?;
                let values = self.reveal(&t, template.default_config.as_map())?;
                Ok(Some(Defaults::new(template.spec, values, t.secrets)))
            }
            EndpointKind::Destination => {
                let Some(t) = self.row(TemplateKind::Connection, id)? else {
                    return Ok(None);
                };
                // A destination's whole configuration came from its template; the template's
                // values are its defaults.
                let template = connection_template(&t)?;
                let values = self.reveal(&t, template.destination_config.as_map())?;
                Ok(Some(Defaults::new(
                    template.destination_spec,
                    values,
                    t.secrets,
                )))
            }
        }
    }
}

/// A template's values as a workspace object made from it uses them.
pub(in crate::engine) struct Defaults {
    pub(in crate::engine) spec: ConfigSpec,
    /// The template's default configuration, its secrets opened.
    pub(in crate::engine) values: Map<String, Value>,
    /// What the template holds sealed: the organization's secrets.
    pub(in crate::engine) template_secrets: SealedSecrets,
}

impl Defaults {
    pub(in crate::engine) fn new(
        spec: ConfigSpec,
        values: Map<String, Value>,
        template_secrets: SealedSecrets,
    ) -> Self {
        Self {
            spec,
            values,
            template_secrets,
        }
    }

    /// The fields to seal in a workspace object made from the template: those its current
    /// spec marks secret, and every field the template itself holds sealed. A spec change
    /// that unmarks a field leaves the organization's value sealed in the template; it must
    /// stay sealed wherever it is opened, or it would reach the customer in clear.
    pub(in crate::engine) fn secret_pointers(&self) -> Vec<String> {
        let mut pointers: BTreeSet<String> = self.spec.secret_pointers().into_iter().collect();
        pointers.extend(self.template_secrets.pointers().map(str::to_owned));
        pointers.into_iter().collect()
    }

    /// Marks as the organization's every field of `sealed` that holds the template's sealed
    /// value: the customer's `input` had nothing there (or, when `mask_takes_default`, the
    /// mask, which stands for the template's value).
    pub(in crate::engine) fn mark_organization(
        &self,
        sealed: &mut SealedSecrets,
        input: &Map<String, Value>,
        mask_takes_default: bool,
    ) {
        let input = Value::Object(input.clone());
        for pointer in self.template_secrets.pointers() {
            let from_template = match input.pointer(pointer) {
                None => true,
                Some(value) => mask_takes_default && value.as_str() == Some(SECRET_MASK),
            };
            if from_template {
                sealed.mark_organization(pointer);
            }
        }
    }
}

/// The first JSON pointer at which `a` and `b` differ (`""` for the whole), if any.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|key| {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                let child = format!("{at}/{escaped}");
                match (a.get(key), b.get(key)) {
                    (Some(a), Some(b)) => first_difference(a, b, &child),
                    _ => Some(child),
                }
            })
        }
        _ => (a != b).then(|| at.to_owned()),
    }
}

/// `value` without the field at `pointer` (a slot of an array becomes null).
fn remove_pointer(value: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&key);
        }
        Some(Value::Array(items)) => {
            if let Some(slot) = key.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *slot = Value::Null;
            }
        }
        _ => {}
    }
}

/// Refuses a customer's new configuration that keeps a secret the organization supplied
/// (`after`'s organization fields) but changes where it goes: any field that is not a secret
/// (a host, an endpoint, a bucket, an account), so that the organization's credential would
/// be sent somewhere else. The customer's own secrets (a refresh token, their API key) are
/// credentials, not places, and may change. Replacing the organization's secret with a value
/// of the customer's own lifts the restriction. `before` and `after` are the whole
/// configurations, secrets opened, and `sealed_before` and `sealed_after` their secrets.
pub(in crate::engine) fn check_organization_secrets_stay(
    before: &Map<String, Value>,
    sealed_before: &SealedSecrets,
    after: &Map<String, Value>,
    sealed_after: &SealedSecrets,
) -> Result<()> {
    let Some(kept) = sealed_after.organization_pointers().next() else {
        return Ok(());
    };
    let mut before = Value::Object(before.clone());
    let mut after = Value::Object(after.clone());
    for pointer in sealed_before.pointers().chain(sealed_after.pointers()) {
        remove_pointer(&mut before, pointer);
        remove_pointer(&mut after, pointer);
    }
    match first_difference(&before, &after, "") {
        None => Ok(()),
        Some(field) => Err(Error::invalid_input(
            format!("config at `{field}`"),
            format!(
                "cannot change while the organization's secret at `{kept}` is kept; \
                 send your own value for `{kept}` too, or ask the organization to change it"
            ),
        )),
    }
}

/// A customer form posts back what the template listing showed: a field still holding the
/// mask where the template's default has a value takes that default.
pub(in crate::engine) fn keep_masked_defaults(
    config: &mut Map<String, Value>,
    defaults: &Map<String, Value>,
) {
    let mut pointers = Vec::new();
    collect_masked(&Value::Object(config.clone()), String::new(), &mut pointers);
    let defaults = Value::Object(defaults.clone());
    let mut root = Value::Object(std::mem::take(config));
    for pointer in pointers {
        if let (Some(default), Some(slot)) =
            (defaults.pointer(&pointer), root.pointer_mut(&pointer))
        {
            *slot = default.clone();
        }
    }
    if let Value::Object(map) = root {
        *config = map;
    }
}

fn collect_masked(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::String(text) if text == SECRET_MASK => out.push(at),
        Value::Object(map) => {
            for (key, child) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                collect_masked(child, format!("{at}/{escaped}"), out);
            }
        }
        _ => {}
    }
}

pub(in crate::engine) fn not_available() -> Error {
    Error::PermissionDenied {
        operation: "sources:create".to_owned(),
        reason: "template not available to this workspace".to_owned(),
    }
}
