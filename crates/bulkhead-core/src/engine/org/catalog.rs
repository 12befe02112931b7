//! The organization's catalog: tags, source templates, connection templates.

use uuid::Uuid;

use crate::engine::catalog::{
    Catalog, ConnectionBody, SourceBody, connection_template, encode, source_template,
};
use crate::engine::org::OrgScope;
use crate::error::{Error, ObjectKind, Result};
use crate::model::ids::{
    ConnectionTemplateId, DestinationId, SourceId, SourceTemplateId, WorkspaceId,
};
use crate::model::names::ConnectorConfig;
use crate::model::objects::{Destination, Source};
use crate::model::tags::{Tag, TagSelection};
use crate::model::templates::{
    ConnectionTemplate, ConnectionTemplateUpdate, NewConnectionTemplate, NewSourceTemplate,
    SourceTemplate, SourceTemplateUpdate, TagInfo,
};
use crate::port::store::{TemplateKind, TemplateRow};

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
        self.rows()?.create_tag(
            &self.audit_as("tag.create", None, format!("tag:{name}")),
            name,
            self.inner.now(),
        )
    }

    /// The organization's tags, by name.
    pub fn list_tags(&self) -> Result<Vec<TagInfo>> {
        self.rows()?.tags()
    }

    /// Renames a tag everywhere: on templates and in workspaces' selections.
    pub fn rename_tag(&self, from: &Tag, to: &Tag) -> Result<()> {
        let ctx = self.audit_as("tag.rename", None, format!("tag:{from}->{to}"));
        if self.rows()?.rename_tag(&ctx, from, to)? {
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
        if self.rows()?.delete_tag(&ctx, name)? {
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
        self.rows()?.insert_template(&ctx, &row)?;
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
        if !self.rows()?.replace_template(&ctx, &new_row)? {
            return Err(Error::not_found(ObjectKind::SourceTemplate, id));
        }
        source_template(&new_row)
    }

    /// Deletes a source template. Sources made from it stay.
    pub fn delete_source_template(&self, id: SourceTemplateId) -> Result<()> {
        self.get_source_template(id)?;
        if self.rows()?.delete_template(
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
        self.rows()?.insert_template(&ctx, &row)?;
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
        if !self.rows()?.replace_template(&ctx, &new_row)? {
            return Err(Error::not_found(ObjectKind::ConnectionTemplate, id));
        }
        connection_template(&new_row)
    }

    /// Deletes a connection template. Destinations and connections made from it stay.
    pub fn delete_connection_template(&self, id: ConnectionTemplateId) -> Result<()> {
        self.get_connection_template(id)?;
        if self.rows()?.delete_template(
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
}
