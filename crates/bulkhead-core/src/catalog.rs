//! The organization's catalog (tags, source templates, connection templates) and what a
//! workspace sees of it.
//!
//! Template secrets (fields the spec marks `airbyte_secret`) are sealed under the master key,
//! bound to the organization, the template and the field. When a workspace uses a template,
//! they are opened, merged with the customer's configuration and sealed again under that
//! workspace's data key, bound to the new object.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::engine::{Inner, Retired};
use crate::error::{Error, ObjectKind, Result, StorageError};
use crate::guard::{OrgCtx, inside_store_transaction};
use crate::ids::{
    ConnectionId, ConnectionTemplateId, DestinationId, SourceId, SourceTemplateId, WorkspaceId,
};
use crate::model::{Connection, ConnectionStatus, Destination, Source};
use crate::ops::Operation;
use crate::org::OrgScope;
use crate::scope::{Endpoint, WorkspaceScope};
use crate::secrets::{
    SealedSecrets, reveal_fields, seal_fields, template_secret_aad, workspace_secret_aad,
};
use crate::spec::{ConfigSpec, SECRET_MASK, merge};
use crate::store::{EndpointKind, EndpointRow, TemplateKind, TemplateRow};
use crate::tags::{Tag, TagSelection};
use crate::templates::{
    ConnectionTemplate, ConnectionTemplateUpdate, NewConnectionTemplate, NewSourceFromTemplate,
    NewSourceTemplate, SourceFromTemplate, SourceTemplate, SourceTemplateUpdate, TagInfo,
};
use crate::values::{Connector, ConnectorConfig, Name, Schedule};

/// The kind-specific fields of a source template, as stored in its `body`.
#[derive(Serialize, Deserialize)]
struct SourceBody {
    connector: Connector,
    default_config: Map<String, Value>,
    spec: Value,
}

/// The kind-specific fields of a connection template, as stored in its `body`.
#[derive(Serialize, Deserialize)]
struct ConnectionBody {
    destination_name: Name,
    destination_connector: Connector,
    destination_config: Map<String, Value>,
    destination_spec: Value,
    schedule: String,
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Storage(StorageError::new(format!(
        "a stored template is invalid: {e}"
    )))
}

fn encode<T: Serialize>(body: &T) -> Result<String> {
    serde_json::to_string(body).map_err(corrupt)
}

fn config(map: Map<String, Value>) -> Result<ConnectorConfig> {
    ConnectorConfig::new(Value::Object(map))
}

fn kind_of(kind: TemplateKind) -> ObjectKind {
    match kind {
        TemplateKind::Source => ObjectKind::SourceTemplate,
        TemplateKind::Connection => ObjectKind::ConnectionTemplate,
    }
}

fn source_template(row: &TemplateRow) -> Result<SourceTemplate> {
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

fn connection_template(row: &TemplateRow) -> Result<ConnectionTemplate> {
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
struct Catalog<'a> {
    inner: &'a Inner,
    org: OrgCtx,
}

impl Catalog<'_> {
    fn checked(&self, kind: TemplateKind, row: TemplateRow) -> Result<TemplateRow> {
        if row.org_id == self.org.org_id() && row.kind == kind {
            Ok(row)
        } else {
            Err(self
                .inner
                .guard
                .breach(kind_of(kind), self.org.org_id(), None, self.org.actor()))
        }
    }

    fn rows(&self, kind: TemplateKind) -> Result<Vec<TemplateRow>> {
        self.inner
            .store
            .list_templates(&self.org, kind)?
            .into_iter()
            .map(|row| self.checked(kind, row))
            .collect()
    }

    fn row(&self, kind: TemplateKind, id: Uuid) -> Result<Option<TemplateRow>> {
        match self.inner.store.get_template(&self.org, kind, id)? {
            Some(row) if row.id == id => self.checked(kind, row).map(Some),
            Some(row) => self.checked(kind, row).map(|_| None),
            None => Ok(None),
        }
    }

    /// Seals the secret fields of a template's configuration under the master key.
    ///
    /// The fields sealed before (`current`) stay secret even if the new spec no longer marks
    /// them, as for a workspace's objects: otherwise their value would be dropped and the mask
    /// left in its place as if it were the value.
    fn seal(
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
    fn reveal(&self, row: &TemplateRow, config: &Map<String, Value>) -> Result<Map<String, Value>> {
        let master = self.inner.master_key();
        let org = self.org.org_id();
        reveal_fields(config, &row.secrets, |pointer, sealed| {
            master.open(sealed, &template_secret_aad(org, row.id, pointer))
        })
    }

    /// For a stored source or destination made from a template: the template's spec, its
    /// default configuration (secrets opened) and the pointers of its secrets. `None` if the
    /// template is gone.
    fn defaults_for(&self, row: &EndpointRow) -> Result<Option<Defaults>> {
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
struct Defaults {
    spec: ConfigSpec,
    /// The template's default configuration, its secrets opened.
    values: Map<String, Value>,
    /// What the template holds sealed: the organization's secrets.
    template_secrets: SealedSecrets,
}

impl Defaults {
    fn new(spec: ConfigSpec, values: Map<String, Value>, template_secrets: SealedSecrets) -> Self {
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
    fn secret_pointers(&self) -> Vec<String> {
        let mut pointers: BTreeSet<String> = self.spec.secret_pointers().into_iter().collect();
        pointers.extend(self.template_secrets.pointers().map(str::to_owned));
        pointers.into_iter().collect()
    }

    /// Marks as the organization's every field of `sealed` that holds the template's sealed
    /// value: the customer's `input` had nothing there (or, when `mask_takes_default`, the
    /// mask, which stands for the template's value).
    fn mark_organization(
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
fn check_organization_secrets_stay(
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
fn keep_masked_defaults(config: &mut Map<String, Value>, defaults: &Map<String, Value>) {
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

fn not_available() -> Error {
    Error::PermissionDenied {
        operation: "sources:create".to_owned(),
        reason: "template not available to this workspace".to_owned(),
    }
}

impl OrgScope {
    /// The catalog, once the scope's credential still holds.
    fn catalog(&self) -> Result<Catalog<'_>> {
        self.live()?;
        Ok(Catalog {
            inner: &self.inner,
            org: self.org.duplicate(),
        })
    }

    /// Creates the tag `name`; a conflict if the organization has it already.
    pub fn create_tag(&self, name: &Tag) -> Result<TagInfo> {
        self.store()?.create_tag(
            &self.audit_as("tag.create", None, format!("tag:{name}")),
            name,
            self.inner.now(),
        )
    }

    /// The organization's tags, by name.
    pub fn list_tags(&self) -> Result<Vec<TagInfo>> {
        self.store()?.list_tags(&self.org)
    }

    /// Renames a tag everywhere: on templates and in workspaces' selections.
    pub fn rename_tag(&self, from: &Tag, to: &Tag) -> Result<()> {
        let ctx = self.audit_as("tag.rename", None, format!("tag:{from}->{to}"));
        if self.store()?.rename_tag(&ctx, from, to)? {
            Ok(())
        } else {
            Err(Error::not_found(ObjectKind::Tag, from))
        }
    }

    /// Deletes a tag and detaches it from every template. Workspaces that selected it keep
    /// the name in their selection, where it now matches nothing: deleting a tag never widens
    /// what a workspace sees.
    pub fn delete_tag(&self, name: &Tag) -> Result<()> {
        let ctx = self.audit_as("tag.delete", None, format!("tag:{name}"));
        if self.store()?.delete_tag(&ctx, name)? {
            Ok(())
        } else {
            Err(Error::not_found(ObjectKind::Tag, name))
        }
    }

    /// Creates a source template. Secret fields of its default configuration (per its spec)
    /// are sealed; its tags must exist.
    pub fn create_source_template(&self, request: NewSourceTemplate) -> Result<SourceTemplate> {
        let now = self.inner.now();
        let id = Uuid::new_v4();
        let mut defaults = request.default_config.as_map().clone();
        let secrets = self
            .catalog()?
            .seal(id, &mut defaults, &request.spec, None)?;
        let row = TemplateRow {
            kind: TemplateKind::Source,
            id,
            org_id: self.org.org_id(),
            name: request.name,
            tags: request.tags,
            body: encode(&SourceBody {
                connector: request.connector,
                default_config: defaults,
                spec: request.spec.as_value().clone(),
            })?,
            secrets,
            created_at: now,
            updated_at: now,
        };
        let ctx = self.audit_as(
            "source_template.create",
            None,
            format!("source template:{}", row.id),
        );
        self.store()?.insert_template(&ctx, &row)?;
        source_template(&row)
    }

    /// The organization's source templates, oldest first; with `filter`, only those it
    /// matches.
    pub fn list_source_templates(
        &self,
        filter: Option<&TagSelection>,
    ) -> Result<Vec<SourceTemplate>> {
        let rows = self.catalog()?.rows(TemplateKind::Source)?;
        rows.iter()
            .map(source_template)
            .filter(|t| match (t, filter) {
                (Ok(t), Some(f)) => f.matches(&t.tags),
                _ => true,
            })
            .collect()
    }

    /// The source template `id`.
    pub fn get_source_template(&self, id: SourceTemplateId) -> Result<SourceTemplate> {
        let row = self
            .catalog()?
            .row(TemplateKind::Source, *id.as_uuid())?
            .ok_or_else(|| Error::not_found(ObjectKind::SourceTemplate, id))?;
        source_template(&row)
    }

    /// Changes a source template. Sources made from it keep their configuration; its new spec
    /// applies to their next update.
    pub fn update_source_template(
        &self,
        id: SourceTemplateId,
        update: &SourceTemplateUpdate,
    ) -> Result<SourceTemplate> {
        let catalog = self.catalog()?;
        let row = catalog
            .row(TemplateKind::Source, *id.as_uuid())?
            .ok_or_else(|| Error::not_found(ObjectKind::SourceTemplate, id))?;
        let current = source_template(&row)?;
        let spec = update.spec.clone().unwrap_or(current.spec);
        let mut defaults = update
            .default_config
            .as_ref()
            .unwrap_or(&current.default_config)
            .as_map()
            .clone();
        let secrets = catalog.seal(row.id, &mut defaults, &spec, Some(&row.secrets))?;
        let new_row = TemplateRow {
            name: update.name.clone().unwrap_or(row.name.clone()),
            tags: update.tags.clone().unwrap_or(row.tags.clone()),
            body: encode(&SourceBody {
                connector: current.connector,
                default_config: defaults,
                spec: spec.as_value().clone(),
            })?,
            secrets,
            updated_at: self.inner.now(),
            ..row
        };
        let ctx = self.audit_as(
            "source_template.update",
            None,
            format!("source template:{id}"),
        );
        if !self.store()?.replace_template(&ctx, &new_row)? {
            return Err(Error::not_found(ObjectKind::SourceTemplate, id));
        }
        source_template(&new_row)
    }

    /// Deletes a source template. Sources made from it stay.
    pub fn delete_source_template(&self, id: SourceTemplateId) -> Result<()> {
        self.get_source_template(id)?;
        if self.store()?.delete_template(
            &self.audit_as(
                "source_template.delete",
                None,
                format!("source template:{id}"),
            ),
            TemplateKind::Source,
            *id.as_uuid(),
        )? {
            Ok(())
        } else {
            Err(Error::not_found(ObjectKind::SourceTemplate, id))
        }
    }

    /// Creates a connection template. Its destination configuration must satisfy its
    /// destination spec; secret fields are sealed; its tags must exist.
    pub fn create_connection_template(
        &self,
        request: NewConnectionTemplate,
    ) -> Result<ConnectionTemplate> {
        let now = self.inner.now();
        let id = Uuid::new_v4();
        let mut destination = request.destination_config.as_map().clone();
        request.destination_spec.validate(&destination)?;
        let secrets =
            self.catalog()?
                .seal(id, &mut destination, &request.destination_spec, None)?;
        let row = TemplateRow {
            kind: TemplateKind::Connection,
            id,
            org_id: self.org.org_id(),
            name: request.name,
            tags: request.tags,
            body: encode(&ConnectionBody {
                destination_name: request.destination_name,
                destination_connector: request.destination_connector,
                destination_config: destination,
                destination_spec: request.destination_spec.as_value().clone(),
                schedule: request.schedule.as_text().to_owned(),
            })?,
            secrets,
            created_at: now,
            updated_at: now,
        };
        let ctx = self.audit_as(
            "connection_template.create",
            None,
            format!("connection template:{}", row.id),
        );
        self.store()?.insert_template(&ctx, &row)?;
        connection_template(&row)
    }

    /// The organization's connection templates, oldest first; with `filter`, only those it
    /// matches.
    pub fn list_connection_templates(
        &self,
        filter: Option<&TagSelection>,
    ) -> Result<Vec<ConnectionTemplate>> {
        let rows = self.catalog()?.rows(TemplateKind::Connection)?;
        rows.iter()
            .map(connection_template)
            .filter(|t| match (t, filter) {
                (Ok(t), Some(f)) => f.matches(&t.tags),
                _ => true,
            })
            .collect()
    }

    /// The connection template `id`.
    pub fn get_connection_template(&self, id: ConnectionTemplateId) -> Result<ConnectionTemplate> {
        let row = self
            .catalog()?
            .row(TemplateKind::Connection, *id.as_uuid())?
            .ok_or_else(|| Error::not_found(ObjectKind::ConnectionTemplate, id))?;
        connection_template(&row)
    }

    /// Changes a connection template. Destinations and connections made from it stay as they
    /// are; new sources use the new values.
    pub fn update_connection_template(
        &self,
        id: ConnectionTemplateId,
        update: &ConnectionTemplateUpdate,
    ) -> Result<ConnectionTemplate> {
        let catalog = self.catalog()?;
        let row = catalog
            .row(TemplateKind::Connection, *id.as_uuid())?
            .ok_or_else(|| Error::not_found(ObjectKind::ConnectionTemplate, id))?;
        let current = connection_template(&row)?;
        let spec = update
            .destination_spec
            .clone()
            .unwrap_or(current.destination_spec);
        let mut destination = update
            .destination_config
            .as_ref()
            .unwrap_or(&current.destination_config)
            .as_map()
            .clone();
        // Validate with masked fields opened, so a secret sent back masked counts as present.
        spec.validate(&catalog.reveal(&row, &destination)?)?;
        let secrets = catalog.seal(row.id, &mut destination, &spec, Some(&row.secrets))?;
        let new_row = TemplateRow {
            name: update.name.clone().unwrap_or(row.name.clone()),
            tags: update.tags.clone().unwrap_or(row.tags.clone()),
            body: encode(&ConnectionBody {
                destination_name: update
                    .destination_name
                    .clone()
                    .unwrap_or(current.destination_name),
                destination_connector: current.destination_connector,
                destination_config: destination,
                destination_spec: spec.as_value().clone(),
                schedule: update
                    .schedule
                    .as_ref()
                    .unwrap_or(&current.schedule)
                    .as_text()
                    .to_owned(),
            })?,
            secrets,
            updated_at: self.inner.now(),
            ..row
        };
        let ctx = self.audit_as(
            "connection_template.update",
            None,
            format!("connection template:{id}"),
        );
        if !self.store()?.replace_template(&ctx, &new_row)? {
            return Err(Error::not_found(ObjectKind::ConnectionTemplate, id));
        }
        connection_template(&new_row)
    }

    /// Deletes a connection template. Destinations and connections made from it stay.
    pub fn delete_connection_template(&self, id: ConnectionTemplateId) -> Result<()> {
        self.get_connection_template(id)?;
        if self.store()?.delete_template(
            &self.audit_as(
                "connection_template.delete",
                None,
                format!("connection template:{id}"),
            ),
            TemplateKind::Connection,
            *id.as_uuid(),
        )? {
            Ok(())
        } else {
            Err(Error::not_found(ObjectKind::ConnectionTemplate, id))
        }
    }

    /// The configuration of the source `id` of workspace `workspace`, secrets included.
    /// Organization access only; everything else sees secrets masked. Audited
    /// (`source.reveal`): if the event cannot be written, nothing is revealed.
    pub fn reveal_source_config(
        &self,
        workspace: WorkspaceId,
        id: SourceId,
    ) -> Result<ConnectorConfig> {
        let scope = self.workspace(workspace)?;
        let row = scope.fetch_endpoint_row::<Source>(id)?;
        let revealed = scope.reveal_row(&row)?;
        self.audit_event("source.reveal", Some(workspace), format!("source:{id}"))?;
        Ok(revealed)
    }

    /// The configuration of the destination `id` of workspace `workspace`, secrets included.
    /// Organization access only; everything else sees secrets masked. Audited
    /// (`destination.reveal`): if the event cannot be written, nothing is revealed.
    pub fn reveal_destination_config(
        &self,
        workspace: WorkspaceId,
        id: DestinationId,
    ) -> Result<ConnectorConfig> {
        let scope = self.workspace(workspace)?;
        let row = scope.fetch_endpoint_row::<Destination>(id)?;
        let revealed = scope.reveal_row(&row)?;
        self.audit_event(
            "destination.reveal",
            Some(workspace),
            format!("destination:{id}"),
        )?;
        Ok(revealed)
    }

    /// Deletes the workspace `id`: it becomes a tombstone at once (invisible, its tokens and
    /// scopes refused, its external id answering [`Error::WorkspaceDeleted`]) and keeps its
    /// rows until [`OrgScope::purge_workspace`] or [`OrgScope::purge_deleted_workspaces`]
    /// removes them.
    pub fn delete_workspace(&self, id: WorkspaceId) -> Result<()> {
        self.get_workspace(id)?;
        let ctx = self.audit_as("workspace.delete", Some(id), format!("workspace:{id}"));
        let deleted = self
            .store()?
            .tombstone_workspace(&ctx, id, self.inner.now(), None)?;
        self.inner.changed();
        match self.inner.guard.admit_org_opt(&self.org, deleted)? {
            Some(w) if w.id == id && w.is_deleted() => {
                self.inner.set_retired(id, Some(Retired::Deleted));
                tracing::info!(target: "bulkhead::workspace", org = %self.org.org_id(), workspace = %id, "workspace deleted (tombstone)");
                Ok(())
            }
            _ => Err(Error::not_found(ObjectKind::Workspace, id)),
        }
    }

    /// Purges the deleted workspace `id`: destroys its data key first, then its sources,
    /// destinations, connections, sync runs and revoked tokens, and the tombstone, in one
    /// transaction; its external id is free again. A live workspace must be deleted first
    /// (conflict).
    ///
    /// Crypto-shredding, and what it covers: the sealed data key leaves the **live
    /// database** (the SQLite store overwrites deleted bytes and checkpoints its WAL after a
    /// purge, so neither the database file nor its `-wal` holds it). A copy of the database
    /// made before the purge (a file backup, a `pg_dump`) still holds the sealed data key,
    /// which the same master key opens: such copies become unreadable only once the master
    /// key is rotated ([`crate::Engine::rotate_master_key`]) and the old one destroyed. On
    /// PostgreSQL the old row version also stays in the table until `VACUUM` reclaims it, and
    /// in WAL archives and replicas for as long as they are kept.
    pub fn purge_workspace(&self, id: WorkspaceId) -> Result<()> {
        match self.get_any_workspace(id)? {
            None => return Err(Error::not_found(ObjectKind::Workspace, id)),
            Some(w) if !w.is_deleted() => {
                return Err(Error::conflict(format!(
                    "workspace `{id}` is not deleted; delete it before purging it"
                )));
            }
            Some(_) => {}
        }
        let ctx = self.audit_as("workspace.purge", Some(id), format!("workspace:{id}"));
        let purged = self.store()?.delete_workspace(&ctx, id)?;
        self.inner.changed();
        if purged {
            // Its rows are gone; a scope made before stays refused as not found, reads and
            // writes alike (remembered for the life of the engine: a workspace id is never
            // used again, so the entry costs only its memory).
            self.inner.set_retired(id, Some(Retired::Deleted));
            tracing::info!(target: "bulkhead::workspace", org = %self.org.org_id(), workspace = %id, "workspace purged");
            Ok(())
        } else {
            Err(Error::not_found(ObjectKind::Workspace, id))
        }
    }

    /// Purges every workspace deleted at least `retention` ago, in one call (each in a
    /// transaction of its own). Returns how many were purged.
    pub fn purge_deleted_workspaces(&self, retention: std::time::Duration) -> Result<u64> {
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let before = crate::Timestamp::from_unix_millis(
            self.inner.now().unix_millis().saturating_sub(retention_ms),
        );
        let mut purged = 0u64;
        loop {
            let batch = self
                .store()?
                .list_deleted_workspaces(&self.org, before, 100)?;
            let count = batch.len();
            for tombstone in batch {
                let tombstone = self.inner.guard.admit_org(&self.org, tombstone)?;
                if tombstone.deleted_at.is_none_or(|at| at > before) {
                    return Err(self.breach(ObjectKind::Workspace));
                }
                self.purge_workspace(tombstone.id)?;
                purged += 1;
            }
            if count < 100 {
                return Ok(purged);
            }
        }
    }
}

impl WorkspaceScope {
    fn catalog(&self) -> Catalog<'_> {
        Catalog {
            inner: &self.inner,
            org: OrgCtx::new(self.tenant.org_id()).with_actor(self.tenant.actor().clone()),
        }
    }

    /// The source templates this workspace sees: those its source tag selection matches.
    pub fn source_templates(&self) -> Result<Vec<SourceTemplate>> {
        self.require(Operation::ReadTemplates)?;
        let selection = self.workspace_row()?.source_tags;
        let rows = self.catalog().rows(TemplateKind::Source)?;
        let mut out = Vec::new();
        for row in &rows {
            if selection.matches(&row.tags) {
                out.push(source_template(row)?);
            }
        }
        Ok(out)
    }

    /// The connection templates that apply to this workspace: those its connection tag
    /// selection matches.
    pub fn connection_templates(&self) -> Result<Vec<ConnectionTemplate>> {
        self.require(Operation::ReadTemplates)?;
        let selection = self.workspace_row()?.connection_tags;
        let rows = self.catalog().rows(TemplateKind::Connection)?;
        let mut out = Vec::new();
        for row in &rows {
            if selection.matches(&row.tags) {
                out.push(connection_template(row)?);
            }
        }
        Ok(out)
    }

    /// Creates a source from a template the workspace sees, and applies every connection
    /// template it sees: each makes (or reuses) its destination in the workspace and a
    /// connection from the new source to it. All in one transaction.
    ///
    /// The customer's configuration is merged over the template's default and checked
    /// against its spec; an invalid one is refused naming the field's JSON pointer, and
    /// nothing is written. Secret fields are sealed with the workspace's data key. A template
    /// the workspace does not see, of another organization, or that does not exist, is
    /// refused alike: "template not available to this workspace".
    pub fn create_source_from_template(
        &self,
        request: NewSourceFromTemplate,
    ) -> Result<SourceFromTemplate> {
        self.require(Operation::CreateSources)?;
        let workspace = self.workspace_row()?;
        let catalog = self.catalog();
        let row = catalog
            .row(TemplateKind::Source, *request.template_id.as_uuid())?
            .filter(|row| workspace.source_tags.matches(&row.tags))
            .ok_or_else(not_available)?;
        let template = source_template(&row)?;
        let values = catalog.reveal(&row, template.default_config.as_map())?;
        let defaults = Defaults::new(template.spec, values, row.secrets.clone());
        let mut merged = merge(&defaults.values, request.config.as_map());
        keep_masked_defaults(&mut merged, &defaults.values);
        defaults.spec.validate(&merged)?;

        let data_key = self.inner.data_key(&self.tenant)?;
        let ws = self.tenant.workspace_id();
        let now = self.inner.now();
        let source_id = Uuid::new_v4();
        let mut secrets = seal_fields(&mut merged, &defaults.secret_pointers(), None, |p, v| {
            data_key.seal(v, &workspace_secret_aad(ws, source_id, p))
        })?;
        defaults.mark_organization(&mut secrets, request.config.as_map(), true);
        let source = EndpointRow {
            kind: EndpointKind::Source,
            id: source_id,
            org_id: self.tenant.org_id(),
            workspace_id: ws,
            name: request.name,
            connector: template.connector,
            config: config(merged)?,
            secrets,
            template_id: Some(row.id),
            created_at: now,
            updated_at: now,
        };

        let mut pipelines = Vec::new();
        for t in catalog.rows(TemplateKind::Connection)? {
            if !workspace.connection_tags.matches(&t.tags) {
                continue;
            }
            let ct = connection_template(&t)?;
            let values = catalog.reveal(&t, ct.destination_config.as_map())?;
            let destination_defaults =
                Defaults::new(ct.destination_spec.clone(), values, t.secrets.clone());
            let mut destination_config = destination_defaults.values.clone();
            let destination_id = Uuid::new_v4();
            let mut destination_secrets = seal_fields(
                &mut destination_config,
                &destination_defaults.secret_pointers(),
                None,
                |p, v| data_key.seal(v, &workspace_secret_aad(ws, destination_id, p)),
            )?;
            // Every value of the destination is the template's.
            destination_defaults.mark_organization(&mut destination_secrets, &Map::new(), true);
            let destination = EndpointRow {
                kind: EndpointKind::Destination,
                id: destination_id,
                org_id: self.tenant.org_id(),
                workspace_id: ws,
                name: ct.destination_name.clone(),
                connector: ct.destination_connector.clone(),
                config: config(destination_config)?,
                secrets: destination_secrets,
                template_id: Some(t.id),
                created_at: now,
                updated_at: now,
            };
            let connection = Connection {
                id: ConnectionId::random(),
                org_id: self.tenant.org_id(),
                workspace_id: ws,
                name: ct.name.clone(),
                source_id: SourceId::from_uuid(source_id)?,
                destination_id: DestinationId::from_uuid(destination_id)?,
                status: ConnectionStatus::Active,
                schedule: ct.schedule.clone(),
                created_at: now,
                updated_at: now,
            };
            pipelines.push((destination, connection));
        }

        // The guard runs inside the store's transaction, before the commit: a row of another
        // workspace, or a connection wired to the wrong objects, stores nothing at all.
        let check = |made: &[(EndpointRow, Connection)]| -> Result<()> {
            if made.len() != pipelines.len() {
                return Err(Error::Storage(StorageError::new(
                    "storage made a different number of pipelines than asked",
                )));
            }
            for ((destination, connection), (asked, _)) in made.iter().zip(&pipelines) {
                self.inner.guard.admit(&self.tenant, destination)?;
                self.inner.guard.admit(&self.tenant, connection)?;
                if destination.kind != EndpointKind::Destination
                    || destination.template_id != asked.template_id
                    || connection.destination_id.as_uuid() != &destination.id
                    || connection.source_id.as_uuid() != &source_id
                {
                    return Err(Error::Storage(StorageError::new(
                        "storage linked a connection to the wrong source or destination",
                    )));
                }
            }
            Ok(())
        };
        // The store runs `check` inside its transaction: a breach it finds reaches the audit
        // chain once the store call has returned.
        let made = self.inner.store.insert_source_with_pipelines(
            &self.audited("source.create_from_template", ObjectKind::Source, source.id),
            &source,
            &pipelines,
            &|pipelines| inside_store_transaction(|| check(pipelines)),
        );
        self.inner.guard.flush();
        let made = made?;
        let mut destinations = Vec::with_capacity(made.len());
        let mut connections = Vec::with_capacity(made.len());
        for (destination, connection) in made {
            destinations.push(Destination::from_row(destination)?);
            connections.push(connection);
        }
        Ok(SourceFromTemplate {
            source: Source::from_row(source)?,
            destinations,
            connections,
        })
    }

    /// Masks and seals a new configuration for the stored `current` object: merged over its
    /// template's defaults and checked against its spec when the template still exists; the
    /// fields sealed before, and every field the template holds sealed, stay secret; a masked
    /// field keeps its stored value. A customer (a scope from a token) who keeps a secret the
    /// organization supplied may change nothing else of the configuration.
    pub(crate) fn seal_update(
        &self,
        current: &EndpointRow,
        new: &ConnectorConfig,
    ) -> Result<(ConnectorConfig, SealedSecrets)> {
        let mut merged = new.as_map().clone();
        let mut pointers: BTreeSet<String> =
            current.secrets.pointers().map(str::to_owned).collect();
        let data_key = self.inner.data_key(&self.tenant)?;
        let ws = self.tenant.workspace_id();
        let object = current.id;
        let open =
            |p: &str, sealed: &[u8]| data_key.open(sealed, &workspace_secret_aad(ws, object, p));
        let defaults = self.catalog().defaults_for(current)?;
        if let Some(defaults) = &defaults {
            merged = merge(&defaults.values, &merged);
            pointers.extend(defaults.secret_pointers());
        }
        // Masked fields stand for the stored secrets: check with those opened.
        let after = reveal_fields(&merged, &current.secrets, open)?;
        if let Some(defaults) = &defaults {
            defaults.spec.validate(&after)?;
        }
        let pointers: Vec<String> = pointers.into_iter().collect();
        let mut secrets = seal_fields(&mut merged, &pointers, Some(&current.secrets), |p, v| {
            data_key.seal(v, &workspace_secret_aad(ws, object, p))
        })?;
        if let Some(defaults) = &defaults {
            // A field the customer left out takes the template's value.
            defaults.mark_organization(&mut secrets, new.as_map(), false);
        }
        if self.token_id().is_some() {
            let before = reveal_fields(current.config.as_map(), &current.secrets, open)?;
            check_organization_secrets_stay(&before, &current.secrets, &after, &secrets)?;
        }
        Ok((config(merged)?, secrets))
    }

    /// The configuration of a stored object of this workspace with its secrets opened.
    pub(crate) fn reveal_row(&self, row: &EndpointRow) -> Result<ConnectorConfig> {
        if row.secrets.is_empty() {
            return Ok(row.config.clone());
        }
        let data_key = self.inner.data_key(&self.tenant)?;
        let ws = self.tenant.workspace_id();
        let revealed = reveal_fields(row.config.as_map(), &row.secrets, |p, sealed| {
            data_key.open(sealed, &workspace_secret_aad(ws, row.id, p))
        })?;
        config(revealed)
    }
}
