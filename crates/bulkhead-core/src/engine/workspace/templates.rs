//! What a workspace sees of its organization's catalog: the templates, and the objects made
//! from them.

use std::collections::BTreeSet;

use serde_json::Map;
use uuid::Uuid;

use crate::crypto::secrets::{SealedSecrets, reveal_fields, seal_fields, workspace_secret_aad};
use crate::engine::catalog::{
    Catalog, Defaults, check_organization_secrets_stay, config, connection_template,
    keep_masked_defaults, not_available, source_template,
};
use crate::engine::workspace::{Endpoint, WorkspaceScope};
use crate::error::{Error, ObjectKind, Result, StorageError};
use crate::model::ids::{ConnectionId, DestinationId, SourceId};
use crate::model::names::ConnectorConfig;
use crate::model::objects::{Connection, ConnectionStatus, Destination, Source};
use crate::model::operations::Operation;
use crate::model::spec::merge;
use crate::model::templates::{
    ConnectionTemplate, NewSourceFromTemplate, SourceFromTemplate, SourceTemplate,
};
use crate::port::store::{EndpointKind, EndpointRow, Pipeline, TemplateKind};
use crate::port::tenant::OrgCtx;

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
            pipelines.push(Pipeline {
                destination,
                connection,
            });
        }

        // The guard runs inside the store's transaction, before the commit: a row of another
        // workspace, or a connection wired to the wrong objects, stores nothing at all. The
        // handle checks the count and admits each row; the wiring is checked here.
        let linked = |made: &Pipeline, asked: &Pipeline| -> Result<()> {
            let Pipeline {
                destination,
                connection,
            } = made;
            if destination.kind != EndpointKind::Destination
                || destination.template_id != asked.destination.template_id
                || connection.destination_id.as_uuid() != &destination.id
                || connection.source_id.as_uuid() != &source_id
            {
                return Err(Error::Storage(StorageError::new(
                    "storage linked a connection to the wrong source or destination",
                )));
            }
            Ok(())
        };
        let made = self.rows().insert_source_with_pipelines(
            &self.audited("source.create_from_template", ObjectKind::Source, source.id),
            &source,
            &pipelines,
            &linked,
        )?;
        let mut destinations = Vec::with_capacity(made.len());
        let mut connections = Vec::with_capacity(made.len());
        for Pipeline {
            destination,
            connection,
        } in made
        {
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
